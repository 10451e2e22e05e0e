//! A RabbitMQ vhost per test: tests run in parallel without seeing each other's queues, and
//! deleting the vhost at the end leaves nothing behind.

use std::process::Command;

pub struct Vhost {
    pub name: String,
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs (is rabbitmq-server installed? see .ci/run)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Vhost {
    pub fn create() -> Self {
        let name = format!("pushmesh-test-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["-q", "add_vhost", &name]);
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            &name,
            "guest",
            ".*",
            ".*",
            ".*",
        ]);
        Vhost { name }
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

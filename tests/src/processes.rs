//! Running the mesh's services as real processes, for the tests that kill them.

use crate::mesh::{wait_ready, Mesh};
use std::process::{Command, Stdio};

impl Mesh {
    /// This mesh's settings as a file, for processes and the CLI.
    pub fn config_file(&self) -> std::path::PathBuf {
        let config = self.dir.path().join("pushmesh.toml");
        std::fs::write(&config, &self.settings_toml).expect("write the settings file");
        config
    }

    /// A binary built beside the tests (target/<profile>/<name>).
    pub fn binary(name: &str) -> std::path::PathBuf {
        let exe = std::env::current_exe().expect("the test binary's path");
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps")
            .join(name);
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --workspace --bins` first",
            bin.display()
        );
        bin
    }

    /// Runs `pushmesh-cli` with this mesh's settings; returns what it printed, or panics.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(Self::binary("pushmesh-cli"))
            .args(args)
            .env("PUSHMESH_CONFIG", self.config_file())
            .output()
            .expect("pushmesh-cli runs");
        assert!(
            out.status.success(),
            "pushmesh-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The environment processes started from now on get (a setting changed between runs).
    pub fn set_process_env(&mut self, env: &'static [(&'static str, &'static str)]) {
        self.process_env = env;
    }

    /// Starts target/<profile>/<service> with this mesh's settings and waits until it is ready.
    pub async fn start_process(&mut self, service: &'static str) {
        let config = self.config_file();
        let bin = Self::binary(service);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{service}.log")))
            .expect("log file");
        let child = Command::new(bin)
            .env("PUSHMESH_CONFIG", &config)
            // A process logs to its own file: everything a service says, as an operator sees it.
            .env("PUSHMESH__LOG", "info,lapin=warn")
            .envs(self.process_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{service} starts: {e}"));
        self.processes.insert(service, child);
        wait_ready(&self.http, self.ports.of(service), service).await;
    }

    /// What `service` has written to stderr (its log) so far, over all its starts.
    pub fn process_log(&self, service: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{service}.log"))).unwrap_or_default()
    }

    /// The last lines each process wrote, printed when a test fails: its temp dir goes with it.
    pub(crate) fn print_process_logs(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let (before, tail) = lines.split_at(lines.len().saturating_sub(40));
                // Why a process exited is often long before its last lines.
                let errors: Vec<_> = before
                    .iter()
                    .filter(|l| l.contains("ERROR") || l.starts_with("Error:"))
                    .collect();
                if !errors.is_empty() {
                    eprintln!("--- earlier errors in {} ---", path.display());
                    errors.iter().take(20).for_each(|line| eprintln!("{line}"));
                }
                eprintln!("--- last {} lines of {} ---", tail.len(), path.display());
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill_process(&mut self, service: &str) {
        if let Some(mut child) = self.processes.remove(service) {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited with success.
    pub fn terminate_process(&mut self, service: &str) -> bool {
        let Some(mut child) = self.processes.remove(service) else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {service}");
        child.wait().expect("reap").success()
    }
}

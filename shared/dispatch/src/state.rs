//! A dispatcher's `GET /state`: each app's vendor actor as an operator sees it (breaker, quota,
//! requests waiting and out, the last minutes' failures). The registry's console reads it.

use crate::actor::GetState;
use actix::Recipient;
use actix_web::{web, HttpResponse};
use pushmesh_contract::Vendor;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The actors, once they run (the HTTP server starts before them).
#[derive(Clone, Default)]
pub struct States(Arc<OnceLock<HashMap<String, Recipient<GetState>>>>);

impl States {
    pub(crate) fn set(&self, actors: HashMap<String, Recipient<GetState>>) {
        let _ = self.0.set(actors);
    }

    /// The route, for `vendor`'s dispatcher.
    pub(crate) fn routes(&self, vendor: Vendor) -> impl Fn(&mut web::ServiceConfig) + Send + Clone {
        let states = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(web::Data::new((vendor, states.clone())))
                .route("/state", web::get().to(state));
        }
    }
}

async fn state(data: web::Data<(Vendor, States)>) -> HttpResponse {
    let (vendor, States(actors)) = data.get_ref();
    let Some(actors) = actors.get() else {
        return HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "error": {"code": "starting", "message": "the vendor actors are not running yet"}
        }));
    };
    let mut apps = serde_json::Map::new();
    for (app, actor) in actors {
        if let Ok(state) = actor.send(GetState).await {
            apps.insert(app.clone(), serde_json::json!(state));
        }
    }
    HttpResponse::Ok().json(serde_json::json!({ "vendor": vendor.as_str(), "apps": apps }))
}

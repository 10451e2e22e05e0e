//! A dry run: the vendor client builds its requests as for a send, and they are shown instead
//! of sent, with the credential and every device token cut out.

use crate::{Attempt, VendorApi};
use pushmesh_contract::stage::DevicePush;
use pushmesh_contract::trace::VendorRequest;

/// What the client is given in place of a credential: a dry run needs none, and so shows none.
const CREDENTIAL: &str = "<credential>";

/// Headers that carry a secret whatever the vendor puts in them.
const SECRET_HEADERS: [&str; 3] = ["authorization", "auth_token", "authtoken"];

/// Each push's answer to a dry run: the requests `send` would have made, or what `send` would
/// have answered without sending anything.
pub fn attempts<V: VendorApi>(api: &V, pushes: &[DevicePush]) -> Vec<Attempt> {
    let built = api.requests(CREDENTIAL, pushes).and_then(|requests| {
        requests
            .into_iter()
            .map(|r| {
                r.map_err(|e| Attempt::Rejected {
                    detail: format!("request not built: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let attempt = match built {
        Ok(requests) => Attempt::DryRun {
            requests: requests.iter().map(|r| shown(r, pushes)).collect(),
        },
        Err(attempt) => attempt,
    };
    vec![attempt; pushes.len()]
}

/// `request` as a trace shows it: tokens replaced by `<token of {push_id}>`, secrets by
/// `<redacted>`.
pub fn shown(request: &reqwest::Request, pushes: &[DevicePush]) -> VendorRequest {
    let redact = |text: &str| redacted(text, pushes);
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                "<redacted>".to_owned()
            } else {
                redact(&String::from_utf8_lossy(value.as_bytes()))
            };
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| redact(&String::from_utf8_lossy(b)))
        .unwrap_or_default();
    VendorRequest {
        method: request.method().as_str().to_owned(),
        url: redact(request.url().as_str()),
        headers,
        body,
    }
}

/// `text` with each push's token (as is, and as a form or URL would encode it) and the
/// credential placeholder's encodings replaced.
fn redacted(text: &str, pushes: &[DevicePush]) -> String {
    let mut out = text.to_owned();
    // Markers first, names second: a name must not be taken for another push's token.
    let marker = |i: usize| format!("\0{i}\0");
    for (i, p) in pushes
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.token.is_empty())
    {
        let encoded: String = form_urlencoded::byte_serialize(p.token.as_bytes()).collect();
        out = out
            .replace(&p.token, &marker(i))
            .replace(&encoded, &marker(i));
    }
    for (i, p) in pushes.iter().enumerate() {
        out = out.replace(&marker(i), &format!("<token of {}>", p.push_id));
    }
    let encoded: String = form_urlencoded::byte_serialize(CREDENTIAL.as_bytes()).collect();
    out.replace(&encoded, CREDENTIAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pushes;
    use pushmesh_contract::Vendor;

    #[test]
    fn tokens_and_secrets_never_show() {
        let mut p = pushes(Vendor::Fcm, &["tok:en/1"]).remove(0);
        p.push_id = "p1".into();
        let http = reqwest::Client::new();
        let request = http
            .post("https://vendor.example/send/tok:en/1")
            .header("authorization", "Bearer s3cret")
            .header("x-kind", "alert")
            .form(&[("token", "tok:en/1"), ("auth_token", CREDENTIAL)])
            .build()
            .unwrap();
        let shown = shown(&request, &[p]);
        let all = format!("{shown:?}");
        assert!(!all.contains("tok:en") && !all.contains("s3cret"), "{all}");
        assert_eq!(shown.url, "https://vendor.example/send/<token of p1>");
        assert_eq!(shown.body, "token=<token of p1>&auth_token=<credential>");
        assert!(shown.headers.contains(&("x-kind".into(), "alert".into())));
    }
}

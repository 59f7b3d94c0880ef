//! Parametric QR codes: `qrcode/create`.
//! <https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html>

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::api::WechatError;
use super::client::WechatClient;
use super::scene::{Lifetime, Scene};

/// WeChat's answer: `url` is what the code encodes, so images are drawn from it locally.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct QrTicket {
    pub ticket: String,
    pub url: String,
    pub expire_seconds: Option<u32>,
}

fn request_body(scene: &Scene, lifetime: Lifetime) -> serde_json::Value {
    let (scene_json, numeric) = match scene {
        Scene::Id(id) => (json!({ "scene_id": id }), true),
        Scene::Str(s) => (json!({ "scene_str": s }), false),
    };
    let action_name = match (lifetime, numeric) {
        (Lifetime::Temporary { .. }, true) => "QR_SCENE",
        (Lifetime::Temporary { .. }, false) => "QR_STR_SCENE",
        (Lifetime::Permanent, true) => "QR_LIMIT_SCENE",
        (Lifetime::Permanent, false) => "QR_LIMIT_STR_SCENE",
    };
    let mut body = json!({ "action_name": action_name, "action_info": { "scene": scene_json } });
    // Omitted, WeChat makes a temporary code live 60 seconds: always say how long.
    if let Lifetime::Temporary { expire_seconds } = lifetime {
        body["expire_seconds"] = json!(expire_seconds);
    }
    body
}

impl WechatClient {
    /// Asks WeChat for a code carrying `scene`.
    #[tracing::instrument(name = "create_qrcode", skip(self), err(Display))]
    pub async fn create_qrcode(
        &self,
        scene: &Scene,
        lifetime: Lifetime,
    ) -> Result<QrTicket, WechatError> {
        if let Err(e) = scene.check(lifetime) {
            // A caller's bug, caught before it costs quota.
            return Err(WechatError::Unexpected {
                reason: format!("not a code WeChat makes: {e}"),
            });
        }
        self.post("/cgi-bin/qrcode/create", &request_body(scene, lifetime))
            .await
    }

    /// The address that serves the code's image without a token. Tickets contain `+`,
    /// `/` and `=`, so they are URL-encoded.
    pub fn showqrcode_url(&self, ticket: &str) -> String {
        let base = match self.api_base().host_str() {
            Some("api.weixin.qq.com") => "https://mp.weixin.qq.com".to_owned(),
            _ => self.api_base().as_str().trim_end_matches('/').to_owned(),
        };
        format!(
            "{base}/cgi-bin/showqrcode?ticket={}",
            urlencoding::encode(ticket)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_numeric_code_names_its_lifetime() {
        let body = request_body(
            &Scene::Id(42),
            Lifetime::Temporary {
                expire_seconds: 1800,
            },
        );
        assert_eq!(
            body,
            json!({"expire_seconds":1800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":42}}})
        );
    }

    #[test]
    fn permanent_and_string_scenes_pick_their_action() {
        let body = request_body(&Scene::Str("shop-7".into()), Lifetime::Permanent);
        assert_eq!(
            body,
            json!({"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"shop-7"}}})
        );
        let body = request_body(&Scene::Id(9), Lifetime::Permanent);
        assert_eq!(body["action_name"], "QR_LIMIT_SCENE");
        let body = request_body(
            &Scene::Str("x".into()),
            Lifetime::Temporary { expire_seconds: 60 },
        );
        assert_eq!(body["action_name"], "QR_STR_SCENE");
    }
}

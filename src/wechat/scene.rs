//! A QR code's scene and the platform's rules for it, in one place: what `qrcode/create`
//! accepts for each lifetime, and how a push's `EventKey` reads back as a scene.
//! <https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html>

/// The longest scene string WeChat takes (QR_STR_SCENE / QR_LIMIT_STR_SCENE), in characters.
pub const MAX_SCENE_CHARS: usize = 64;
/// The largest scene id of a permanent code (QR_LIMIT_SCENE).
pub const PERMANENT_ID_MAX: u32 = 100_000;
/// WeChat's longest lifetime for a temporary code (30 days).
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;

/// A QR code's scene, as WeChat carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scene {
    /// `scene_id`: temporary codes take 1..=u32::MAX, permanent ones 1..=100000.
    Id(u32),
    /// `scene_str`: 1 to 64 characters.
    Str(String),
}

/// Temporary codes expire; permanent ones count against the account's 100,000 for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Temporary { expire_seconds: u32 },
    Permanent,
}

/// Why WeChat would refuse a scene for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SceneError {
    #[error("a scene string must be 1 to 64 characters")]
    Length,
    #[error("a scene id must be 1 to {max}")]
    IdOutOfRange { max: u32 },
    #[error("a temporary code lives 1 to 2592000 seconds")]
    Lifetime,
}

impl Scene {
    /// Reads a scene as WeChat writes it in `EventKey`: plain digits (no sign, no
    /// leading zero) that fit a scene id are an id; any other text is a scene string.
    pub fn parse(value: &str) -> Option<Scene> {
        if value.is_empty() || value.chars().count() > MAX_SCENE_CHARS {
            return None;
        }
        let digits = value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
        match value.parse::<u32>() {
            Ok(id) if digits => Some(Scene::Id(id)),
            _ => Some(Scene::Str(value.to_owned())),
        }
    }

    /// Whether `qrcode/create` takes this scene for a code of `lifetime`.
    pub fn check(&self, lifetime: Lifetime) -> Result<(), SceneError> {
        if let Lifetime::Temporary { expire_seconds } = lifetime
            && !(1..=MAX_EXPIRE_SECONDS).contains(&expire_seconds)
        {
            return Err(SceneError::Lifetime);
        }
        match (self, lifetime) {
            (Scene::Str(s), _) if !(1..=MAX_SCENE_CHARS).contains(&s.chars().count()) => {
                Err(SceneError::Length)
            }
            (Scene::Id(0), Lifetime::Temporary { .. }) => {
                Err(SceneError::IdOutOfRange { max: u32::MAX })
            }
            (Scene::Id(id), Lifetime::Permanent) if !(1..=PERMANENT_ID_MAX).contains(id) => {
                Err(SceneError::IdOutOfRange {
                    max: PERMANENT_ID_MAX,
                })
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scene::Id(id) => write!(f, "{id}"),
            Scene::Str(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_read_as_ids_only_when_they_are_plain_digits() {
        assert_eq!(Scene::parse("123"), Some(Scene::Id(123)));
        assert_eq!(Scene::parse("4294967295"), Some(Scene::Id(u32::MAX)));
        assert_eq!(
            Scene::parse("4294967296"),
            Some(Scene::Str("4294967296".into()))
        );
        assert_eq!(Scene::parse("+5"), Some(Scene::Str("+5".into())));
        assert_eq!(Scene::parse("007"), Some(Scene::Str("007".into())));
        assert_eq!(Scene::parse("0"), Some(Scene::Str("0".into())));
        assert_eq!(Scene::parse(""), None);
        assert_eq!(Scene::parse(&"字".repeat(65)), None);
        assert!(Scene::parse(&"字".repeat(64)).is_some());
    }

    #[test]
    fn each_lifetime_takes_the_scenes_wechat_takes() {
        let temporary = Lifetime::Temporary {
            expire_seconds: 1800,
        };
        assert!(Scene::Id(u32::MAX).check(temporary).is_ok());
        assert!(Scene::Id(0).check(temporary).is_err());
        assert!(Scene::Id(100_000).check(Lifetime::Permanent).is_ok());
        assert_eq!(
            Scene::Id(100_001).check(Lifetime::Permanent),
            Err(SceneError::IdOutOfRange { max: 100_000 })
        );
        assert!(Scene::Str("张三".into()).check(Lifetime::Permanent).is_ok());
        assert_eq!(
            Scene::Str(String::new()).check(temporary),
            Err(SceneError::Length)
        );
        assert_eq!(
            Scene::Id(1).check(Lifetime::Temporary { expire_seconds: 0 }),
            Err(SceneError::Lifetime)
        );
    }
}

//! The operator's commands beside `serve`: [`doctor`] checks a deployment's setup
//! before WeChat is pointed at it, [`backup`] copies the database while the service
//! runs. Both read the same configuration as `serve` and speak to the operator in
//! Chinese; neither needs the service to be running.

pub mod backup;
pub mod doctor;

use std::path::PathBuf;

/// The file a `sqlite:` URL names (`sqlite://scanquote.db?mode=rwc`,
/// `sqlite:///var/lib/scanquote/scanquote.db`); `None` for an in-memory database or
/// another backend.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || database_url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        for (url, path) in [
            ("sqlite://scanquote.db?mode=rwc", Some("scanquote.db")),
            (
                "sqlite:///var/lib/scanquote/s.db",
                Some("/var/lib/scanquote/s.db"),
            ),
            ("sqlite:data/s.db", Some("data/s.db")),
            ("sqlite::memory:", None),
            ("sqlite://file?mode=memory", None),
            ("mysql://root@127.0.0.1/test", None),
        ] {
            assert_eq!(sqlite_path(url), path.map(PathBuf::from), "{url}");
        }
    }
}

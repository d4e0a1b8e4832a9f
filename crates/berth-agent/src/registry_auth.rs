//! Registry credentials for pulls, from the Docker client's configuration
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, the file `docker login`
//! writes): the `auths` entry of the image's registry, as Docker itself would send it.
//! Credential helpers (`credsStore`, `credHelpers`) are not consulted.

use std::path::PathBuf;

use base64::Engine;
use bollard::auth::DockerCredentials;

/// The registry an image reference names: its first path component when that looks
/// like a host (has a `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

/// The credentials `docker login` stored for the registry of `image`, if any.
pub fn credentials_for(image: &str) -> Option<DockerCredentials> {
    let config = std::fs::read(config_path()?).ok()?;
    credentials_in(&config, image)
}

/// The credentials for `image` in a Docker client configuration file's contents.
pub fn credentials_in(config: &[u8], image: &str) -> Option<DockerCredentials> {
    let config: serde_json::Value = serde_json::from_slice(config).ok()?;
    let registry = registry_of(image);
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find_map(|(key, value)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let hub = registry == "docker.io" && host == "index.docker.io";
        (host == registry || hub).then_some(value)
    })?;
    let encoded = entry.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (username, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(DockerCredentials {
        username: Some(username.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_names_its_registry() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox:1"), "docker.io");
        assert_eq!(registry_of("127.0.0.1:7430/team/app:v1"), "127.0.0.1:7430");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("ghcr.io/o/app"), "ghcr.io");
    }

    #[test]
    fn docker_login_entries_become_pull_credentials() {
        let auth = base64::engine::general_purpose::STANDARD.encode("AWS:secret:with:colons");
        let config = serde_json::json!({"auths": {
            "127.0.0.1:7430": {"auth": auth},
            "https://index.docker.io/v1/": {"auth": base64::engine::general_purpose::STANDARD.encode("me:pw")}
        }});
        let bytes = serde_json::to_vec(&config).unwrap();
        let c = credentials_in(&bytes, "127.0.0.1:7430/app:1").unwrap();
        assert_eq!(c.username.as_deref(), Some("AWS"));
        assert_eq!(c.password.as_deref(), Some("secret:with:colons"));
        let hub = credentials_in(&bytes, "busybox").unwrap();
        assert_eq!(hub.username.as_deref(), Some("me"));
        assert!(credentials_in(&bytes, "ghcr.io/o/app").is_none());
    }
}

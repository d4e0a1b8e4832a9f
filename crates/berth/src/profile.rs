//! Writes the `berth` profile into the AWS CLI's shared files, touching no other
//! profile: `[profile NAME]` in `~/.aws/config` (region, endpoint_url) and `[NAME]` in
//! `~/.aws/credentials` (the key pair). Each file is rewritten atomically.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The URL clients use to reach a server listening on `addr` (a wildcard address is
/// reached through loopback), over HTTPS when `https`.
pub fn endpoint_url(addr: SocketAddr, https: bool) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}:{}", addr.port())
}

/// Writes the profile and returns the directory written to. Honours the AWS CLI's
/// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`.
pub fn write_profile(
    name: &str,
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    ca_bundle: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let aws_dir = home.join(".aws");
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| aws_dir.join("config"));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| aws_dir.join("credentials"));
    let ca_bundle = ca_bundle.map(|p| p.display().to_string());
    let mut entries = vec![
        ("region", region),
        ("endpoint_url", endpoint),
        ("output", "json"),
    ];
    if let Some(ca) = &ca_bundle {
        entries.push(("ca_bundle", ca));
    }
    update_file(&config, &format!("profile {name}"), &entries, 0o644)?;
    update_file(
        &credentials,
        name,
        &[
            ("aws_access_key_id", access_key_id),
            ("aws_secret_access_key", secret_access_key),
        ],
        0o600,
    )?;
    Ok(config.parent().map(Path::to_path_buf).unwrap_or(aws_dir))
}

fn update_file(
    path: &Path,
    section: &str,
    entries: &[(&str, &str)],
    mode: u32,
) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let existing = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let updated = replace_section(&existing, section, entries);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("berth-tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(updated.as_bytes())?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Returns `text` with section `[section]` holding exactly `entries`; every other line is
/// kept as it was. A missing section is appended.
fn replace_section(text: &str, section: &str, entries: &[(&str, &str)]) -> String {
    let header = format!("[{section}]");
    let mut body = String::new();
    body.push_str(&header);
    body.push('\n');
    for (k, v) in entries {
        body.push_str(&format!("{k} = {v}\n"));
    }

    let mut out = String::with_capacity(text.len() + body.len());
    let mut in_target = false;
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            in_target = trimmed == header;
            if in_target {
                if !replaced {
                    out.push_str(&body);
                    replaced = true;
                }
                continue;
            }
        }
        if !in_target {
            out.push_str(line);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_a_missing_section_and_keeps_others() {
        let text = "[default]\nregion = eu-west-1\n";
        let out = replace_section(text, "profile berth", &[("region", "us-east-1")]);
        assert_eq!(
            out,
            "[default]\nregion = eu-west-1\n\n[profile berth]\nregion = us-east-1\n"
        );
    }

    #[test]
    fn replaces_only_the_named_section() {
        let text = "[a]\nx = 1\n[profile berth]\nregion = old\nstale = 1\n[b]\ny = 2\n";
        let out = replace_section(text, "profile berth", &[("region", "new")]);
        assert_eq!(
            out,
            "[a]\nx = 1\n[profile berth]\nregion = new\n[b]\ny = 2\n"
        );
    }

    #[test]
    fn endpoint_of_wildcard_is_loopback() {
        assert_eq!(
            endpoint_url("0.0.0.0:7430".parse().unwrap(), false),
            "http://127.0.0.1:7430"
        );
        assert_eq!(
            endpoint_url("127.0.0.1:9".parse().unwrap(), true),
            "https://127.0.0.1:9"
        );
    }
}

//! Docker's trust in the control plane's registry when it serves HTTPS with a CA of its
//! own: the agent installs that CA where the Docker Engine reads registry certificates,
//! `/etc/docker/certs.d/HOST:PORT/ca.crt` (`BERTH_DOCKER_CERTS_DIR` to move it), for
//! every name the registry is reached by (the server URLs the agent was given and the
//! registry's advertised `HOST:PORT`). The engine reads that directory on each pull, so
//! no restart and no `insecure-registries` are needed.

use std::path::{Path, PathBuf};

/// The CA to trust and where Docker reads registry certificates.
#[derive(Debug, Clone)]
pub struct RegistryTrust {
    pub ca_pem: Vec<u8>,
    pub certs_dir: PathBuf,
}

impl RegistryTrust {
    /// Installs the CA for registry `host_port` unless it is there already. Failures
    /// are logged: a pull then fails with Docker's own certificate error.
    pub fn install(&self, host_port: &str) {
        if let Err(e) = install(&self.certs_dir, host_port, &self.ca_pem) {
            tracing::warn!(registry = host_port, error = %e,
                "cannot install the control plane's CA for Docker; pulls from it will fail \
                 certificate checks");
        }
    }
}

/// Writes `ca_pem` as `certs_dir/HOST:PORT/ca.crt` when it differs from what is there.
pub fn install(certs_dir: &Path, host_port: &str, ca_pem: &[u8]) -> std::io::Result<bool> {
    let safe = !host_port.is_empty()
        && !host_port.contains('/')
        && !host_port.starts_with('.')
        && host_port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !safe {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("'{host_port}' is not a registry HOST:PORT"),
        ));
    }
    let dir = certs_dir.join(host_port);
    let path = dir.join("ca.crt");
    if std::fs::read(&path).is_ok_and(|have| have == ca_pem) {
        return Ok(false);
    }
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join("ca.crt.tmp");
    std::fs::write(&tmp, ca_pem)?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(path = %path.display(), "installed the control plane's CA for Docker");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_lands_where_docker_reads_it_once_and_odd_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(install(dir.path(), "10.0.0.5:7430", b"CA").unwrap());
        assert_eq!(
            std::fs::read(dir.path().join("10.0.0.5:7430/ca.crt")).unwrap(),
            b"CA"
        );
        assert!(
            !install(dir.path(), "10.0.0.5:7430", b"CA").unwrap(),
            "unchanged"
        );
        assert!(
            install(dir.path(), "10.0.0.5:7430", b"CA2").unwrap(),
            "replaced"
        );
        for bad in ["", "../etc", "a/b:1", ".hidden:1"] {
            assert!(install(dir.path(), bad, b"CA").is_err(), "{bad:?}");
        }
    }
}

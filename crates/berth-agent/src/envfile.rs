//! `environmentFiles`: files of `KEY=VALUE` lines read into a container's environment
//! before it is created. ECS reads them from S3; Berth reads them from the agent host,
//! so `value` is a local path (`/etc/app.env`, or `file:///etc/app.env`). As in ECS,
//! lines starting with `#` and blank lines are skipped, a variable set in `environment`
//! wins over the files, and among files the first to set a variable wins.

use crate::runtime::{ContainerSpec, RuntimeError};

/// Parses one file's contents.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Reads the spec's environment files into its environment.
pub fn apply(spec: &mut ContainerSpec) -> Result<(), RuntimeError> {
    for file in std::mem::take(&mut spec.environment_files) {
        let path = file.strip_prefix("file://").unwrap_or(&file);
        if !path.starts_with('/') {
            return Err(RuntimeError::Create(format!(
                "environment file {file}: Berth reads environment files from the agent host; \
                 give an absolute path (S3 is not available)"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| RuntimeError::Create(format!("environment file {path}: {e}")))?;
        for (k, v) in parse(&text) {
            if !spec.environment.iter().any(|(have, _)| *have == k) {
                spec.environment.push((k, v));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_precedence() {
        assert_eq!(
            parse("# comment\n\nA=1\nB = two=2\n  C=\n"),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), " two=2".into()),
                ("C".into(), "".into())
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a.env");
        let second = dir.path().join("b.env");
        std::fs::write(&first, "X=file\nY=first\n").unwrap();
        std::fs::write(&second, "Y=second\nZ=3\n").unwrap();
        let mut spec = ContainerSpec {
            environment: vec![("X".into(), "definition".into())],
            environment_files: vec![
                first.display().to_string(),
                format!("file://{}", second.display()),
            ],
            ..Default::default()
        };
        apply(&mut spec).unwrap();
        assert_eq!(
            spec.environment,
            vec![
                ("X".into(), "definition".into()),
                ("Y".into(), "first".into()),
                ("Z".into(), "3".into())
            ]
        );
    }

    #[test]
    fn unreadable_or_remote_files_fail_the_container_with_the_path() {
        let mut spec = ContainerSpec {
            environment_files: vec!["arn:aws:s3:::bucket/app.env".into()],
            ..Default::default()
        };
        assert!(apply(&mut spec)
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
        let mut spec = ContainerSpec {
            environment_files: vec!["/nonexistent/app.env".into()],
            ..Default::default()
        };
        let e = apply(&mut spec).unwrap_err().to_string();
        assert!(e.starts_with("CannotCreateContainerError: environment file /nonexistent/app.env"));
    }
}

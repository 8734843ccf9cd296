//! The local `docker` CLI, driven the way the CDK's asset publisher (cdk-assets)
//! drives it: log in to ECR with the token on stdin, build (or run the asset's
//! own executable), tag, push. Everything docker prints goes to stderr: stdout
//! carries only this command's JSON. The login password is never an argument,
//! never printed and never journaled.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use common::{Error, Result};

use crate::manifest::DockerBuild;

/// The variable cdk-assets reads to run another docker-compatible CLI.
pub const DOCKER_ENV: &str = "CDK_DOCKER";

/// What is looked for: `$CDK_DOCKER`, else `docker`.
pub fn program_name() -> OsString {
    std::env::var_os(DOCKER_ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("docker"))
}

/// A docker CLI found on this machine.
#[derive(Debug, Clone)]
pub struct Docker {
    program: PathBuf,
}

impl Docker {
    /// Finds `$CDK_DOCKER` or `docker` on `PATH` (a name with a `/` is taken as a
    /// path); `None` when there is no such executable.
    pub fn find() -> Option<Docker> {
        find_program(&program_name(), std::env::var_os("PATH").as_deref())
            .map(|program| Docker { program })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `docker login --username USER --password-stdin REGISTRY`, the password
    /// written to its stdin.
    pub async fn login(&self, username: &str, password: &str, registry: &str) -> Result<()> {
        let what = format!("docker login to {registry}");
        let mut cmd = self.command(&[
            "login",
            "--username",
            username,
            "--password-stdin",
            registry,
        ]);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::io(what.clone(), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A CLI that exits without reading its stdin breaks the pipe: the
            // exit status below says what went wrong.
            let _ = stdin.write_all(password.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }
        let status = child.wait().await.map_err(|e| Error::io(what.clone(), e))?;
        check_status(&what, status)
    }

    /// `docker build` of `b` into the local image `tag`.
    pub async fn build(&self, b: &DockerBuild, tag: &str) -> Result<()> {
        let args = build_args(b, tag);
        let mut cmd = self.command(&args);
        cmd.current_dir(&b.directory);
        run(cmd, &format!("docker build of {}", b.directory.display())).await
    }

    pub async fn tag(&self, from: &str, to: &str) -> Result<()> {
        run(
            self.command(&["tag", from, to]),
            &format!("docker tag {from} {to}"),
        )
        .await
    }

    pub async fn push(&self, image: &str) -> Result<()> {
        run(
            self.command(&["push", image]),
            &format!("docker push {image}"),
        )
        .await
    }

    fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        cmd
    }
}

/// The arguments of `docker build` for a directory asset, as cdk-assets builds
/// them; the context is the asset directory, given as an absolute path, and
/// the Dockerfile is named by its path in that directory.
pub fn build_args(b: &DockerBuild, tag: &str) -> Vec<String> {
    let mut args = vec!["build".to_owned()];
    for (k, v) in &b.build_args {
        args.extend(["--build-arg".to_owned(), format!("{k}={v}")]);
    }
    for (k, v) in &b.secrets {
        args.extend(["--secret".to_owned(), format!("id={k},{v}")]);
    }
    if let Some(ssh) = &b.ssh {
        args.extend(["--ssh".to_owned(), ssh.clone()]);
    }
    args.extend(["--tag".to_owned(), tag.to_owned()]);
    if let Some(t) = &b.target {
        args.extend(["--target".to_owned(), t.clone()]);
    }
    if let Some(f) = &b.file {
        args.extend([
            "--file".to_owned(),
            b.directory.join(f).display().to_string(),
        ]);
    }
    if let Some(n) = &b.network {
        args.extend(["--network".to_owned(), n.clone()]);
    }
    if let Some(p) = &b.platform {
        args.extend(["--platform".to_owned(), p.clone()]);
    }
    for o in &b.outputs {
        args.push(format!("--output={o}"));
    }
    for c in &b.cache_from {
        args.extend(["--cache-from".to_owned(), c.clone()]);
    }
    if let Some(c) = &b.cache_to {
        args.extend(["--cache-to".to_owned(), c.clone()]);
    }
    if b.no_cache {
        args.push("--no-cache".to_owned());
    }
    args.push(b.directory.display().to_string());
    args
}

/// Runs an asset's own build command in `cwd`; its stdout, trimmed, is the
/// name of the local image it made.
pub async fn run_executable(command: &[String], cwd: &Path) -> Result<String> {
    let what = format!("the image asset command {:?}", command.join(" "));
    let Some((first, rest)) = command.split_first() else {
        return Err(Error::usage(format!("{what} is empty")));
    };
    // A relative path with a slash means: relative to the assembly directory.
    let program = if first.contains('/') && Path::new(first).is_relative() {
        cwd.join(first)
    } else {
        PathBuf::from(first)
    };
    let out = Command::new(program)
        .args(rest)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::io(what.clone(), e))?;
    check_status(&what, out.status)?;
    let image = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return Err(Error::io(
            what,
            std::io::Error::other(format!(
                "it printed {image:?}, not the name of one local image"
            )),
        ));
    }
    Ok(image)
}

async fn run(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().await.map_err(|e| Error::io(what, e))?;
    check_status(what, status)
}

fn check_status(what: &str, status: std::process::ExitStatus) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    let why = match status.code() {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_owned(),
    };
    Err(Error::io(
        format!("{what} failed"),
        std::io::Error::other(why),
    ))
}

/// `name` on `path` (a `PATH` value), or `name` itself when it holds a `/`:
/// the first regular file with an execute bit.
pub fn find_program(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return None;
    }
    if Path::new(name).components().count() > 1 {
        let p = PathBuf::from(name);
        return is_exe(&p).then_some(p);
    }
    std::env::split_paths(path?)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_exe(p))
}

/// `AWS:password` (base64, as GetAuthorizationToken returns it) -> (user, password).
pub fn decode_token(token: &str) -> Result<(String, String)> {
    let bad = || {
        Error::Internal(
            "ECR returned an authorization token that is not base64 of USER:PASSWORD".into(),
        )
    };
    let bytes = aws_smithy_types::base64::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn build_args_follow_cdk_assets() {
        let b = DockerBuild {
            directory: PathBuf::from("/asm/asset.abc"),
            file: Some("docker/Api.Dockerfile".into()),
            build_args: BTreeMap::from([("NODE_ENV".into(), "production".into())]),
            target: Some("runtime".into()),
            platform: Some("linux/arm64".into()),
            cache_from: vec!["type=registry,ref=r/cache".into()],
            no_cache: true,
            ..Default::default()
        };
        assert_eq!(
            build_args(&b, "cdkasset-abc"),
            [
                "build",
                "--build-arg",
                "NODE_ENV=production",
                "--tag",
                "cdkasset-abc",
                "--target",
                "runtime",
                "--file",
                "/asm/asset.abc/docker/Api.Dockerfile",
                "--platform",
                "linux/arm64",
                "--cache-from",
                "type=registry,ref=r/cache",
                "--no-cache",
                "/asm/asset.abc",
            ]
        );
        let plain = DockerBuild {
            directory: PathBuf::from("/d"),
            ..Default::default()
        };
        assert_eq!(build_args(&plain, "t"), ["build", "--tag", "t", "/d"]);
    }

    #[test]
    fn programs_are_found_on_path_only_when_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("docker");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(find_program(OsStr::new("docker"), Some(&path)), None);
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_program(OsStr::new("docker"), Some(&path)),
            Some(exe.clone())
        );
        assert_eq!(find_program(OsStr::new("docker"), None), None);
        assert_eq!(find_program(exe.as_os_str(), None), Some(exe));
        assert_eq!(find_program(OsStr::new("podman"), Some(&path)), None);
    }

    #[test]
    fn tokens_decode_to_user_and_password() {
        // What moto and ECR return: base64 of "AWS:<password>".
        assert_eq!(
            decode_token("QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu").unwrap(),
            ("AWS".to_owned(), "123456789012-auth-token".to_owned())
        );
        assert!(decode_token("not base64!").is_err());
        assert!(decode_token("bm9jb2xvbg==").is_err()); // "nocolon"
    }
}

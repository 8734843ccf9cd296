//! The SDK side of CLI tests: a runtime for blocking fixture calls and the
//! configuration that reaches the emulator, so each crate's tests build their
//! clients (`aws_sdk_x::Client::new(&testkit::sdk_config(&emu))`) the same way.

use crate::EmulatorGuard;

/// Region every test fixture lives in.
pub const REGION: &str = "ap-northeast-1";

/// A current-thread runtime for the SDK calls a (synchronous) test makes.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The SDK configuration for the emulator: its endpoint, [`REGION`] and the
/// emulator's dummy keys. S3 clients still need `force_path_style(true)`.
pub fn sdk_config(emu: &EmulatorGuard) -> aws_config::SdkConfig {
    runtime().block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(emu.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    )
}

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
/// emulator's dummy keys. S3 clients still need `force_path_style(true)`
/// ([`s3_client`]).
pub fn sdk_config(emu: &EmulatorGuard) -> aws_config::SdkConfig {
    runtime().block_on(load_config(emu))
}

/// [`sdk_config`] for a test already inside a runtime.
pub async fn load_config(emu: &EmulatorGuard) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(emu.endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// An S3 client for the emulator (path-style addressing: bucket names are
/// not host names on 127.0.0.1).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// Creates a bucket in [`REGION`].
pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let region = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::ApNortheast1)
        .build();
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(region)
        .send()
        .await
        .expect("CreateBucket on the emulator");
}

/// What `cdk bootstrap` leaves behind that a deploy needs: the bootstrap
/// version parameter (21) and the file asset bucket.
pub async fn cdk_bootstrap(config: &aws_config::SdkConfig, asset_bucket: &str) {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name("/cdk-bootstrap/hnb659fds/version")
        .value("21")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("PutParameter on the emulator");
    create_bucket(&s3_client(config), asset_bucket).await;
}

/// The value of the SSM parameter `name` (panics when it is absent).
pub async fn parameter(config: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(name)
        .send()
        .await
        .expect("GetParameter on the emulator")
        .parameter()
        .and_then(|p| p.value())
        .expect("the parameter has a value")
        .to_owned()
}

/// Creates a metric alarm named `name`. Tests read alarms by name and state
/// only (moto starts a new alarm as OK; `set_alarm_state` changes it), so the
/// metric behind it is the same for all.
pub async fn put_metric_alarm(config: &aws_config::SdkConfig, name: &str) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    aws_sdk_cloudwatch::Client::new(config)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("LTC")
        .metric_name("5xx")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm on the emulator");
}

//! A role in a member account is reached through the execution role there:
//! on moto, `AssumeRole` into `arn:aws:iam::MEMBER:role/FinOpsCenterEnforcer`
//! gives credentials of the member account, so a role that exists only in
//! that account can be observed and denied, and a role of the same name in
//! the stack's own account is left alone.

use domain::governance::enforcement::{kill_switch_deny, plan, IamCall, RoleRef, KILL_SWITCH_POLICY};
use domain::{AccountId, Partition};
use services::ports::{Enforcer, EnforcerError};

const MEMBER: &str = "444455556666";

/// An IAM client acting in `account` (moto keys accounts by the assumed role's ARN).
async fn iam_in(sdk: &aws_config::SdkConfig, account: &str) -> aws_sdk_iam::Client {
    let creds = aws_sdk_sts::Client::new(sdk)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/test-admin"))
        .role_session_name("setup")
        .send()
        .await
        .expect("assume role")
        .credentials
        .expect("credentials");
    let provider = aws_sdk_iam::config::Credentials::new(creds.access_key_id(), creds.secret_access_key(), Some(creds.session_token().to_owned()), None, "setup");
    aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(sdk).credentials_provider(provider).build())
}

#[tokio::test]
async fn a_member_accounts_role_is_denied_through_the_execution_role() {
    let sdk = contract_tests::emulators::moto_config().await;
    let name = contract_tests::emulators::unique_name("member").replace('_', "-").chars().take(60).collect::<String>();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam_in(&sdk, MEMBER).await.create_role().role_name(&name).assume_role_policy_document(trust).send().await.expect("member role");

    // The stack's own account is another one: the member is reached by AssumeRole.
    let home = AccountId::parse("123456789012").expect("account");
    let enforcer = enforcers::IamEnforcer::new(sdk.clone(), Some(home), enforcers::DEFAULT_EXECUTION_ROLE);
    let role = RoleRef::role(AccountId::parse(MEMBER).expect("account"), &name, Partition::Aws);
    let now = enforcer.observe(&role).await.expect("observe in the member account");
    let deny = kill_switch_deny(&role, "");
    for c in plan(&role, &now, Some(&deny)) {
        enforcer.call(&c).await.expect("call in the member account");
    }
    let held = enforcer.observe(&role).await.expect("observe");
    assert!(held.suspended_tag);
    assert_eq!(held.policies.get(KILL_SWITCH_POLICY), Some(&deny));
    assert!(enforcer.role_id(&role).await.expect("role id").starts_with("AROA"));

    // The role exists only in the member account: the home account's
    // credentials do not find it, so the calls above went through the
    // execution role.
    let at_home = enforcers::IamEnforcer::new(sdk.clone(), None, enforcers::DEFAULT_EXECUTION_ROLE);
    assert!(matches!(at_home.observe(&role).await, Err(EnforcerError::NoSuchRole(_))));
    let put = IamCall::DeleteRolePolicy { role: role.clone(), policy_name: KILL_SWITCH_POLICY.into() };
    enforcer.call(&put).await.expect("delete in the member account");
    assert!(enforcer.observe(&role).await.expect("observe").policies.is_empty());
}

//! The IAM documents a Cloud Engineer applies: the trust policy (from the PO's
//! runtime) and the permission policy (from the FinOps Lead's approval scope).
//!
//! The permission policy allows only the approved model in the approved regions
//! and denies every other model explicitly, so a broader policy attached later
//! cannot widen access. Resource ARNs do the scoping: AWS's service authorization
//! reference has no `bedrock:InvokedModelId` condition key (the seed pages name
//! one), so none is emitted. Cross-region inference uses the profile ARN plus the
//! foundation-model ARNs, conditioned on `bedrock:InferenceProfileArn`.

use serde_json::{json, Value};

use super::approval::{ModelApprovalScope, INVOKE_ACTIONS};
use super::request::Runtime;
use crate::arn::Partition;
use crate::ids::AccountId;

pub const POLICY_VERSION: &str = "2012-10-17";

/// The AWS service that assumes the workload's role for each runtime.
pub fn runtime_principal(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Lambda => "lambda.amazonaws.com",
        Runtime::Ecs => "ecs-tasks.amazonaws.com",
        Runtime::Ec2 => "ec2.amazonaws.com",
        Runtime::Eks => "pods.eks.amazonaws.com",
        Runtime::Agentcore => "bedrock-agentcore.amazonaws.com",
        Runtime::AppRunner => "tasks.apprunner.amazonaws.com",
    }
}

/// The trust policy for a runtime. Services that support it are pinned to the
/// account (`aws:SourceAccount`) against the confused-deputy problem; EKS Pod
/// Identity also needs `sts:TagSession`.
pub fn trust_policy(runtime: Runtime, account: &AccountId) -> Value {
    let actions: Value = match runtime {
        Runtime::Eks => json!(["sts:AssumeRole", "sts:TagSession"]),
        _ => json!("sts:AssumeRole"),
    };
    let mut statement = json!({
        "Sid": "AllowRuntimeToAssume",
        "Effect": "Allow",
        "Principal": { "Service": runtime_principal(runtime) },
        "Action": actions,
    });
    if matches!(runtime, Runtime::Lambda | Runtime::Ecs | Runtime::Agentcore | Runtime::AppRunner) {
        statement["Condition"] = json!({ "StringEquals": { "aws:SourceAccount": account.as_str() } });
    }
    json!({ "Version": POLICY_VERSION, "Statement": [statement] })
}

fn foundation_model_arn(partition: Partition, region: &str, model: &str) -> String {
    format!("arn:{}:bedrock:{region}::foundation-model/{model}", partition.as_str())
}

/// The tag the MAP task puts on the workload's application inference profile,
/// and the policy's test for "this workload's profile".
pub const WORKLOAD_TAG: &str = "finops:workload";

/// The application inference profile ARNs of an account in the approved
/// regions. Profile ids are made by Bedrock at creation, so the policy names
/// them by pattern and tells the workload's own apart by its tag.
fn application_profiles(scope: &ModelApprovalScope, account: &AccountId, partition: Partition) -> Vec<String> {
    scope.regions.iter().map(|r| format!("arn:{}:bedrock:{r}:{account}:application-inference-profile/*", partition.as_str())).collect()
}

/// The permission policy for one account under an approval scope. With
/// `map_profile`, the workload calls through its MAP application inference
/// profile (MAP credit is earned only there), so the policy allows that
/// profile (tagged for the workload) and still denies every other one.
pub fn permission_policy(scope: &ModelApprovalScope, account: &AccountId, partition: Partition, map_profile: bool) -> Value {
    permission_policy_all(&[scope], account, partition, map_profile)
}

/// The one permission policy of a role that serves several approval scopes
/// of its workload (a scope extension adds a model or a region): each scope's
/// allows, and a single deny of everything none of them allows. Two policies,
/// each denying what it does not name, would deny each other's models.
pub fn permission_policy_all(scopes: &[&ModelApprovalScope], account: &AccountId, partition: Partition, map_profile: bool) -> Value {
    let mut statements = Vec::new();
    let mut allowed: Vec<String> = Vec::new();
    let many = scopes.len() > 1;
    for (i, scope) in scopes.iter().enumerate() {
        let sid = |name: &str| if many { format!("{name}{}", i + 1) } else { name.to_owned() };
        let model = scope.model.base_model();
        let direct: Vec<String> = scope.regions.iter().map(|r| foundation_model_arn(partition, r.as_str(), model)).collect();
        statements.push(json!({
            "Sid": sid("InvokeApprovedModel"),
            "Effect": "Allow",
            "Action": INVOKE_ACTIONS,
            "Resource": direct,
        }));
        allowed.extend(direct);
        if let Some(geo) = &scope.cross_region_geo {
            let profiles: Vec<String> = scope
                .regions
                .iter()
                .map(|r| format!("arn:{}:bedrock:{}:{}:inference-profile/{geo}.{model}", partition.as_str(), r, account))
                .collect();
            statements.push(json!({
                "Sid": sid("InvokeApprovedCrossRegionProfile"),
                "Effect": "Allow",
                "Action": INVOKE_ACTIONS,
                "Resource": profiles,
            }));
            // The profile routes to the model in other regions of its geography; allow
            // those only when the call comes through the approved profile.
            let any_region = foundation_model_arn(partition, "*", model);
            statements.push(json!({
                "Sid": sid("InvokeModelThroughApprovedProfile"),
                "Effect": "Allow",
                "Action": INVOKE_ACTIONS,
                "Resource": any_region,
                "Condition": { "ArnEquals": { "bedrock:InferenceProfileArn": profiles } },
            }));
            allowed.extend(profiles);
            allowed.push(any_region);
        }
    }
    if let (true, Some(first)) = (map_profile, scopes.first()) {
        let app: Vec<String> = scopes.iter().flat_map(|s| application_profiles(s, account, partition)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let tag = format!("aws:ResourceTag/{WORKLOAD_TAG}");
        statements.push(json!({
            "Sid": "InvokeWorkloadMapProfile",
            "Effect": "Allow",
            "Action": INVOKE_ACTIONS,
            "Resource": app,
            "Condition": { "StringEquals": { tag.clone(): first.workload.as_str() } },
        }));
        statements.push(json!({
            "Sid": "DenyOtherApplicationProfiles",
            "Effect": "Deny",
            "Action": INVOKE_ACTIONS,
            "Resource": app,
            "Condition": { "StringNotEquals": { tag: first.workload.as_str() } },
        }));
        allowed.extend(app);
    }
    let mut seen = std::collections::BTreeSet::new();
    allowed.retain(|a| seen.insert(a.clone()));
    statements.push(json!({
        "Sid": "DenyEveryOtherModel",
        "Effect": "Deny",
        "Action": INVOKE_ACTIONS,
        "NotResource": allowed,
    }));
    if !scopes.iter().any(|s| s.agentic_access) {
        statements.push(json!({
            "Sid": "DenyAgenticAccessViaMcp",
            "Effect": "Deny",
            "Action": "bedrock:*",
            "Resource": "*",
            "Condition": { "Bool": { "aws:ViaAWSMCPService": "true" } },
        }));
    }
    json!({ "Version": POLICY_VERSION, "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::approval::Platform;
    use crate::ids::{ModelId, Region, RequestId, WorkloadId};
    use chrono::Utc;

    fn scope(geo: Option<&str>, agentic: bool) -> ModelApprovalScope {
        ModelApprovalScope {
            request: RequestId::parse("br-1").unwrap(),
            workload: WorkloadId::parse("chat").unwrap(),
            platform: Platform::Bedrock,
            model: ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").unwrap(),
            accounts: vec![AccountId::parse("111122223333").unwrap()],
            regions: vec![Region::parse("us-east-1").unwrap()],
            allowed_actions: INVOKE_ACTIONS.iter().map(|s| s.to_string()).collect(),
            agentic_access: agentic,
            cross_region_geo: geo.map(String::from),
            approved_at: Utc::now(),
        }
    }

    #[test]
    fn trust_policies_follow_the_runtime() {
        let acct = AccountId::parse("111122223333").unwrap();
        let t = trust_policy(Runtime::Lambda, &acct);
        assert_eq!(t["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com");
        assert_eq!(t["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], "111122223333");
        let eks = trust_policy(Runtime::Eks, &acct);
        assert_eq!(eks["Statement"][0]["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
        assert!(eks["Statement"][0].get("Condition").is_none());
        assert_eq!(trust_policy(Runtime::Ec2, &acct)["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
        assert_eq!(trust_policy(Runtime::Ecs, &acct)["Statement"][0]["Principal"]["Service"], "ecs-tasks.amazonaws.com");
        assert_eq!(trust_policy(Runtime::Agentcore, &acct)["Statement"][0]["Principal"]["Service"], "bedrock-agentcore.amazonaws.com");
    }

    #[test]
    fn only_the_approved_model_in_the_approved_region() {
        let acct = AccountId::parse("111122223333").unwrap();
        let p = permission_policy(&scope(None, false), &acct, Partition::Aws, false);
        let s = p["Statement"].as_array().unwrap();
        assert_eq!(s[0]["Resource"], json!(["arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"]));
        assert_eq!(s[1]["Effect"], "Deny");
        assert_eq!(s[1]["NotResource"], s[0]["Resource"]);
        assert_eq!(s[2]["Condition"]["Bool"]["aws:ViaAWSMCPService"], "true");
        assert!(!p.to_string().contains("InvokedModelId"), "no such condition key exists");
        let agentic = permission_policy(&scope(None, true), &acct, Partition::Aws, false);
        assert!(!agentic.to_string().contains("ViaAWSMCPService"));
    }

    #[test]
    fn cross_region_uses_the_profile_and_its_condition_key() {
        let acct = AccountId::parse("111122223333").unwrap();
        let p = permission_policy(&scope(Some("us"), false), &acct, Partition::Aws, false);
        let s = p["Statement"].as_array().unwrap();
        let profile = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(s[1]["Resource"], json!([profile]));
        assert_eq!(s[2]["Resource"], "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(s[2]["Condition"]["ArnEquals"]["bedrock:InferenceProfileArn"], json!([profile]));
    }

    /// A small IAM evaluator for one request, statement by statement: explicit
    /// deny wins, then an allow, else the implicit deny. Resources match with
    /// IAM's `*` wildcard; conditions on a resource tag are checked against
    /// `tags`, and a condition on a key the request lacks does not hold.
    fn evaluate(policy: &Value, action: &str, resource: &str, tags: &[(&str, &str)]) -> (&'static str, Vec<String>) {
        fn glob(pattern: &str, s: &str) -> bool {
            match pattern.split_once('*') {
                None => pattern == s,
                Some((head, rest)) => s.starts_with(head) && (0..=s.len() - head.len()).any(|i| glob(rest, &s[head.len() + i..])),
            }
        }
        let list = |v: &Value| -> Vec<String> { v.as_array().map_or_else(|| vec![v.as_str().unwrap_or_default().to_owned()], |a| a.iter().map(|x| x.as_str().unwrap_or_default().to_owned()).collect()) };
        let mut trace = Vec::new();
        let (mut allowed, mut denied) = (false, false);
        for st in policy["Statement"].as_array().unwrap() {
            let actions = list(&st["Action"]);
            if !actions.iter().any(|a| glob(a, action)) {
                continue;
            }
            let resource_matches = match (st.get("Resource"), st.get("NotResource")) {
                (Some(r), _) => list(r).iter().any(|p| glob(p, resource)),
                (_, Some(nr)) => !list(nr).iter().any(|p| glob(p, resource)),
                _ => false,
            };
            let conditions_hold = st.get("Condition").and_then(Value::as_object).is_none_or(|c| {
                c.iter().all(|(op, kv)| {
                    kv.as_object().unwrap().iter().all(|(key, want)| {
                        let got = key.strip_prefix("aws:ResourceTag/").and_then(|t| tags.iter().find(|(k, _)| *k == t).map(|(_, v)| *v));
                        match (op.as_str(), got) {
                            ("StringEquals", Some(g)) => list(want).iter().any(|w| w == g),
                            ("StringNotEquals", Some(g)) => !list(want).iter().any(|w| w == g),
                            ("StringNotEquals", None) => true,
                            _ => false,
                        }
                    })
                })
            });
            if resource_matches && conditions_hold {
                trace.push(format!("{} {}", st["Sid"].as_str().unwrap_or("?"), st["Effect"].as_str().unwrap_or("?")));
                match st["Effect"].as_str() {
                    Some("Deny") => denied = true,
                    Some("Allow") => allowed = true,
                    _ => {}
                }
            }
        }
        (if denied { "Deny" } else if allowed { "Allow" } else { "ImplicitDeny" }, trace)
    }

    /// Issue 12 item 9: the MAP task's profile was denied by the workload's own
    /// policy (DenyEveryOtherModel left it out). Now the workload's tagged
    /// profile is allowed through every statement, another workload's profile
    /// and an untagged one are denied, and without MAP nothing changes.
    #[test]
    fn the_map_profile_is_callable_by_its_workload_only() {
        let acct = AccountId::parse("111122223333").unwrap();
        let profile = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3n8xq2mz1ab";
        let model = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        let map = permission_policy(&scope(None, false), &acct, Partition::Aws, true);
        let (verdict, trace) = evaluate(&map, "bedrock:InvokeModel", profile, &[(WORKLOAD_TAG, "chat")]);
        assert_eq!(verdict, "Allow", "{trace:?}");
        assert_eq!(trace, ["InvokeWorkloadMapProfile Allow"]);
        assert_eq!(evaluate(&map, "bedrock:InvokeModel", model, &[]).0, "Allow", "the base model stays callable");
        let (other, trace) = evaluate(&map, "bedrock:InvokeModelWithResponseStream", profile, &[(WORKLOAD_TAG, "someone-else")]);
        assert_eq!(other, "Deny", "{trace:?}");
        assert_eq!(evaluate(&map, "bedrock:InvokeModel", profile, &[]).0, "Deny", "an untagged profile");
        let west = "arn:aws:bedrock:us-west-2:111122223333:application-inference-profile/k3n8xq2mz1ab";
        assert_eq!(evaluate(&map, "bedrock:InvokeModel", west, &[(WORKLOAD_TAG, "chat")]).0, "Deny", "outside the approved regions");
        let plain = permission_policy(&scope(None, false), &acct, Partition::Aws, false);
        let (before, trace) = evaluate(&plain, "bedrock:InvokeModel", profile, &[(WORKLOAD_TAG, "chat")]);
        assert_eq!((before, trace), ("Deny", vec!["DenyEveryOtherModel Deny".to_owned()]), "what the MAP workload met before");
    }

    /// Issue 12 item 10: a role serving two scopes gets one policy allowing
    /// both models; neither model is denied by the other's deny.
    #[test]
    fn one_role_two_scopes_one_policy_that_allows_both() {
        let acct = AccountId::parse("111122223333").unwrap();
        let haiku = scope(None, false);
        let mut nova = scope(None, false);
        nova.model = ModelId::parse("amazon.nova-lite-v1:0").unwrap();
        nova.regions = vec![Region::parse("us-west-2").unwrap()];
        let p = permission_policy_all(&[&haiku, &nova], &acct, Partition::Aws, false);
        let h = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        let n = "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0";
        assert_eq!(evaluate(&p, "bedrock:InvokeModel", h, &[]).0, "Allow");
        assert_eq!(evaluate(&p, "bedrock:InvokeModel", n, &[]).0, "Allow");
        assert_eq!(evaluate(&p, "bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", &[]).0, "Deny", "nova only where approved");
        assert_eq!(p["Statement"].as_array().unwrap().iter().filter(|s| s["Sid"] == "DenyEveryOtherModel").count(), 1);
        // Two separate policies would have denied each other's model.
        let alone = permission_policy(&haiku, &acct, Partition::Aws, false);
        assert_eq!(evaluate(&alone, "bedrock:InvokeModel", n, &[]).0, "Deny");
    }
}

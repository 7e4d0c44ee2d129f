//! Property-based fuzzing of every `parse` and of the usage-type decoder
//! (issue 12 item 16): arbitrary strings, and strings built near the valid
//! shapes, never panic; a value that parses prints back to a string that
//! parses to the same value; a refusal names the kind of value and the rule.

use domain::analytics::gaps::GapAction;
use domain::cur::delivery::Delivery;
use domain::cur::usage_type::{decode, Usage};
use domain::governance::claims::{ClaimKind, ClaimTarget};
use domain::governance::tasks::parse_task_id;
use domain::{
    AccountId, BillingPeriod, GuardrailArn, IamRoleArn, InferenceProfileArn, IsoWeek, ModelId, Money, NodeId, Persona, Principal, Region,
    RequestId, RolePattern, UserId, WorkloadId,
};
use proptest::prelude::*;

/// Every string parser: parse, and if it parses, the printed value parses to
/// an equal value; if not, the error names what and why.
macro_rules! round_trips {
    ($s:expr, $($t:ty),* $(,)?) => {$(
        match <$t>::parse($s) {
            Ok(v) => {
                let again = <$t>::parse(&v.to_string());
                prop_assert_eq!(again.as_ref().ok(), Some(&v), "{} {:?} printed as {:?}", stringify!($t), $s, v.to_string());
            }
            Err(e) => {
                prop_assert!(!e.what.is_empty() && !e.rule.is_empty(), "{}: {e:?}", stringify!($t));
            }
        }
    )*};
}

/// Strings near the valid shapes, so parsers get past their first check.
fn near_valid() -> impl Strategy<Value = String> {
    prop_oneof![
        "arn:aws[a-z-]{0,4}:(iam|sts|bedrock)::?[0-9]{0,13}:(role|assumed-role|user|federated-user|root|guardrail|inference-profile|application-inference-profile)/[A-Za-z0-9+=,.@_/*-]{0,40}",
        "[A-Z]{2,4}[0-9]?-[A-Za-z0-9.:_-]{0,50}",
        "[A-Z]{2,4}[0-9]?-MP:[A-Z]{2,4}[0-9]?_[A-Za-z_]{0,30}-Units",
        "[0-9]{1,4}-[0-9]{1,3}(-W?[0-9]{1,2})?",
        "-?[0-9]{0,30}(\\.[0-9]{0,30})?",
        "[a-z0-9.:-]{0,60}",
        "br-[a-z0-9-]{0,20}-t[0-9]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_parser_refuses_by_name_or_round_trips(s in prop_oneof![any::<String>(), near_valid()]) {
        round_trips!(&s, AccountId, Region, ModelId, WorkloadId, NodeId, UserId, RequestId, BillingPeriod, IsoWeek, Persona, IamRoleArn, InferenceProfileArn, GuardrailArn, RolePattern);
        // Money prints for people ($1.23); its wire form is the canonical string.
        match Money::parse(&s) {
            Ok(m) => prop_assert_eq!(Money::parse(&m.to_canonical_string()).ok(), Some(m)),
            Err(e) => prop_assert!(!e.rule.is_empty()),
        }
        // A principal resolves (a session to its role): the resolved ARN parses.
        match Principal::parse(&s) {
            Ok(p) => prop_assert!(Principal::parse(&p.normalized_arn()).is_ok(), "{:?} resolved to {:?}", s, p.normalized_arn()),
            Err(e) => prop_assert!(!e.rule.is_empty()),
        }
        for kind in [ClaimKind::IamRole, ClaimKind::InferenceProfile, ClaimKind::Guardrail, ClaimKind::Workspace] {
            if let Err(e) = ClaimTarget::parse(kind, &s) {
                prop_assert!(!e.field.is_empty() && !e.rule.is_empty());
            }
        }
        let _ = GapAction::parse(&s);
        if let Some((request, n)) = parse_task_id(&s) {
            prop_assert_eq!(domain::governance::tasks::task_id(&request, n), s.clone());
        }
        if let Err(e) = Delivery::parse(&s) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_usage_type_decoder_keeps_every_input(s in prop_oneof![any::<String>(), near_valid()]) {
        let u = decode(&s);
        prop_assert_eq!(&u.raw, &s, "the raw usage type is kept");
        if let Usage::Unknown { reason } = &u.usage {
            prop_assert!(!reason.is_empty(), "an unknown form says why");
        }
        prop_assert_eq!(decode(&s), u, "decoding is a function of the string");
    }
}

//! Every principal shape in the AWS ML blog's example CUR rows
//! (`tests/fixtures/aws_ml_blog_2026-04_iam_principal_example_rows.csv`, copied from
//! `shared/data/real/compiled/`) parses and normalises as attribution needs it.

use domain::Principal;

fn fixture() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/aws_ml_blog_2026-04_iam_principal_example_rows.csv");
    std::fs::read_to_string(path).expect("fixture present")
}

/// The blog elides the common prefix of long session ARNs as "…"; it stands for the
/// account's STS ARN prefix used in the blog's other rows.
fn expand(principal: &str) -> String {
    match principal.strip_prefix('…') {
        Some(rest) => format!("arn:aws:sts::123456789012:{rest}"),
        None => principal.to_owned(),
    }
}

#[test]
fn every_blog_principal_normalises() {
    let text = fixture();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut seen = 0;
    for row in reader.records() {
        let row = row.expect("csv row");
        let scenario = &row[0];
        let principal = Principal::parse(&expand(&row[1])).unwrap_or_else(|e| panic!("{scenario}: {e}"));
        assert_eq!(principal.account().as_str(), "123456789012");
        match scenario {
            "intro" | "1_iam_users" => {
                assert!(matches!(principal, Principal::User { .. }), "{scenario}: {principal:?}");
                assert_eq!(principal.normalized_arn(), row[1].to_string());
                assert_eq!(principal.role_key(), None);
            }
            "2_iam_roles" | "3_federated" | "4_llm_gateway" => {
                let role = principal.role_name().expect("a role");
                let session = principal.session().expect("a session");
                assert_eq!(principal.normalized_arn(), format!("arn:aws:iam::123456789012:role/{role}"));
                // The session is what tells users and tenants apart behind one role.
                assert!(expand(&row[1]).ends_with(&format!("/{role}/{session}")));
            }
            other => panic!("unexpected scenario {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 20, "the fixture has 20 example rows");
}

#[test]
fn sessions_of_one_role_share_a_role_key() {
    let a = Principal::parse("arn:aws:sts::123456789012:assumed-role/Role-1/user-1@acme.org").unwrap();
    let b = Principal::parse("arn:aws:sts::123456789012:assumed-role/Role-1/user-2@acme.org").unwrap();
    let c = Principal::parse("arn:aws:sts::123456789012:assumed-role/BedrockRole/gw-tenant-acme").unwrap();
    assert_eq!(a.role_key(), b.role_key());
    assert_ne!(a.session(), b.session());
    assert_ne!(a.role_key(), c.role_key());
}

#[test]
fn the_elided_form_itself_is_refused_with_a_reason() {
    let e = Principal::parse("…assumed-role/Role-1/user-1@acme.org").unwrap_err();
    assert!(e.to_string().contains("arn:PARTITION"), "{e}");
}

//! Invocation logs to investigations in both worlds: the embedded store and a
//! folder, and DynamoDB Local with moto's S3.

mod embedded {
    contract_tests::usage_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::usage_tests!(contract_tests::governed_world::aws);
}

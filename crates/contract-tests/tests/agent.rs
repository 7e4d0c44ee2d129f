//! Agent Bill's scope, answers and confirmation in both worlds: the embedded
//! mode, and DynamoDB Local (+ EventBridge, IAM on moto).

mod embedded {
    contract_tests::agent_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::agent_tests!(contract_tests::governed_world::aws);
}

//! The kill switch in both worlds: the local enforcer's record, and IAM on moto.

mod embedded {
    contract_tests::kill_switch_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::kill_switch_tests!(contract_tests::governed_world::aws);
}

//! Reading CUR 2.0: the rules that need no I/O (usage-type decoding, units).

pub mod usage_type;
pub mod attribution;
pub mod bases;
pub mod facts;
mod append_map;
pub mod focus;
pub mod views;
pub mod source;
pub mod delivery;

/// The tag that ties Claude Platform spend to a workspace: the Cloud Engineer's
/// task puts it on the workspace (value: the workspace's name) and activates
/// it as a cost allocation tag, and CUR then carries it on the CCU lines as
/// [`WORKSPACE_CUR_KEY`]. One name for the writer and the readers, so a
/// claimed workspace's spend is attributed.
pub const WORKSPACE_TAG: &str = "claude_workspace";

/// [`WORKSPACE_TAG`] as CUR 2.0 writes a user tag in `resource_tags`: `user_<key>`.
pub const WORKSPACE_CUR_KEY: &str = "user_claude_workspace";

#[cfg(test)]
mod tests {
    #[test]
    fn the_cur_key_is_the_tag_as_cur_writes_it() {
        assert_eq!(super::WORKSPACE_CUR_KEY, format!("user_{}", super::WORKSPACE_TAG));
    }
}

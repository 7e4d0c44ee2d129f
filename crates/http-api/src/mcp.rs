//! Agent Bill as an MCP server (rmcp, MCP's official Rust SDK): each typed
//! question of `domain::agent::tools::TOOLS` is a tool with its JSON Schema,
//! answered by `Governance::answer_tool`, the function the GET routes call,
//! so a tool and its route give the same numbers.
//!
//! Two transports, one handler:
//! - stdio (`finops mcp`): the caller is fixed when the server starts (the
//!   local token's user, or the local operator);
//! - Streamable HTTP at `/mcp` in the router: the caller is each request's
//!   `Actor`, which the host's auth layer (local tokens, or API Gateway's JWT
//!   authorizer) put in the request before it reached this service. It runs
//!   stateless with JSON answers, so it works behind API Gateway and Lambda,
//!   where no connection outlives a request.
//!
//! A refusal or a bad argument is a tool result with `isError` and the
//! reason in words (MCP's rule for tool errors), not a protocol error.

use std::sync::Arc;

use domain::Actor;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use services::governance::Governance;

#[derive(Clone)]
pub struct AgentBill {
    gov: Arc<Governance>,
    /// The caller on stdio; over HTTP, `None`: each request's own.
    actor: Option<Actor>,
}

impl AgentBill {
    /// The server for one caller (stdio).
    pub fn for_actor(gov: Arc<Governance>, actor: Actor) -> Self {
        Self { gov, actor: Some(actor) }
    }

    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Option<Actor> {
        self.actor.clone().or_else(|| ctx.extensions.get::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<Actor>().cloned()))
    }
}

/// The tools as MCP lists them.
pub fn tools() -> Vec<Tool> {
    domain::agent::tools::TOOLS.iter().map(|t| Tool::new(t.name, t.description, Arc::new(t.input_schema()))).collect()
}

fn tool_error(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

impl ServerHandler for AgentBill {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("finops-center-agent-bill", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Agent Bill answers questions about AI spend on Amazon Bedrock and Claude Platform with exact numbers (decimal strings, USD), in the caller's scope: a Product Owner sees their workloads, Finance its subtree and unattributed spend, the FinOps Lead everything. Each answer has `figures` and a one-paragraph `text`. Suspending a workload needs confirm: true.",
            )
    }

    async fn list_tools(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let Some(actor) = self.caller(&context) else {
            return Ok(tool_error("no authenticated caller".into()));
        };
        let args = request.arguments.unwrap_or_default();
        match self.gov.answer_tool(&actor, &request.name, &args).await {
            Ok(answer) => {
                let value = serde_json::to_value(&answer).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                let mut result = CallToolResult::structured(value);
                // The paragraph first, for an assistant to read; the numbers are
                // in the structured content.
                result.content = vec![ContentBlock::text(answer.text.clone())];
                Ok(result.into())
            }
            Err(e) => {
                if e.status() >= 500 {
                    tracing::error!(error = %e, tool = %request.name, "an MCP tool failed");
                }
                Ok(tool_error(e.to_string()))
            }
        }
    }
}

/// `/mcp`: Streamable HTTP, stateless, JSON answers. Host checks are off:
/// the route sits behind the API's authorizer (or the local server's
/// tokens) and answers only an authenticated caller, and in AWS its host is
/// API Gateway's, which rmcp's loopback default would refuse.
pub fn http_service(gov: Arc<Governance>) -> StreamableHttpService<AgentBill, NeverSessionManager> {
    let config = StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true).with_sse_keep_alive(None).disable_allowed_hosts();
    StreamableHttpService::new(move || Ok(AgentBill { gov: gov.clone(), actor: None }), Arc::new(NeverSessionManager::default()), config)
}

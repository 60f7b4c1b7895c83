//! [`Tool`], [`TypedTool`] and the [`ToolRegistry`].

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::access::Caller;
use super::error::ToolError;
use super::host::ToolHost;
use super::read::Ctx;

/// Whether a tool only looks, or proposes a change (which the safety guard then decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    ReadOnly,
    Proposes,
}

/// A tool as every face sees it: JSON in, JSON out, with schemas.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// What the tool does, written for a model choosing a tool.
    fn description(&self) -> &'static str;
    fn mark(&self) -> Mark;
    /// JSON Schema of the arguments (an object schema).
    fn input_schema(&self) -> Map<String, Value>;
    /// JSON Schema of the result (an object schema).
    fn output_schema(&self) -> Map<String, Value>;
    /// Runs the tool. The registry has already checked the caller's role against the mark.
    async fn call_json(
        &self,
        host: &dyn ToolHost,
        caller: &Caller,
        args: Value,
    ) -> Result<Value, ToolError>;
}

/// A tool with typed input and output; every `TypedTool` is a [`Tool`].
#[async_trait::async_trait]
pub trait TypedTool: Send + Sync {
    type Input: DeserializeOwned + JsonSchema + Send;
    type Output: Serialize + JsonSchema;
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
    const MARK: Mark;

    async fn run(&self, ctx: &Ctx<'_>, input: Self::Input) -> Result<Self::Output, ToolError>;
}

/// A JSON Schema (draft-07, which every MCP client validates) of `T` as it is read
/// (`output` false) or written (`output` true: fields skipped when empty are optional).
fn schema_of<T: JsonSchema>(output: bool) -> Map<String, Value> {
    let settings = schemars::generate::SchemaSettings::draft07();
    let settings = if output {
        settings.for_serialize()
    } else {
        settings.for_deserialize()
    };
    let schema = settings.into_generator().into_root_schema_for::<T>();
    match serde_json::to_value(schema) {
        Ok(Value::Object(mut m)) => {
            objects_for_true(&mut m);
            // Clients expect an object schema; a type without fields still is one.
            m.entry("type")
                .or_insert_with(|| Value::String("object".into()));
            m
        }
        _ => {
            let mut m = Map::new();
            m.insert("type".into(), Value::String("object".into()));
            m
        }
    }
}

/// Writes the schema `true` (any value, e.g. a `serde_json::Value` field) as `{}` where a
/// subschema is expected: MCP clients (the TypeScript SDK) require property schemas to be
/// objects.
fn objects_for_true(m: &mut Map<String, Value>) {
    for (k, v) in m.iter_mut() {
        match v {
            Value::Object(inner)
                if matches!(k.as_str(), "properties" | "definitions" | "$defs") =>
            {
                for sub in inner.values_mut() {
                    if *sub == Value::Bool(true) {
                        *sub = Value::Object(Map::new());
                    } else if let Value::Object(o) = sub {
                        objects_for_true(o);
                    }
                }
            }
            Value::Bool(true) if k == "items" => *v = Value::Object(Map::new()),
            Value::Object(o) => objects_for_true(o),
            Value::Array(a) => {
                for x in a.iter_mut() {
                    if let Value::Object(o) = x {
                        objects_for_true(o);
                    }
                }
            }
            _ => {}
        }
    }
}

#[async_trait::async_trait]
impl<T: TypedTool> Tool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }
    fn mark(&self) -> Mark {
        T::MARK
    }
    fn input_schema(&self) -> Map<String, Value> {
        schema_of::<T::Input>(false)
    }
    fn output_schema(&self) -> Map<String, Value> {
        schema_of::<T::Output>(true)
    }
    async fn call_json(
        &self,
        host: &dyn ToolHost,
        caller: &Caller,
        args: Value,
    ) -> Result<Value, ToolError> {
        let args = if args.is_null() {
            Value::Object(Map::new())
        } else {
            args
        };
        let input: T::Input =
            serde_json::from_value(args).map_err(|e| ToolError::InvalidInput(e.to_string()))?;
        let ctx = Ctx { host, caller };
        let out = self.run(&ctx, input).await?;
        serde_json::to_value(out).map_err(|e| ToolError::Internal(e.to_string()))
    }
}

/// Every tool, by name.
#[derive(Clone)]
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| t.name()))
            .finish()
    }
}

impl Default for ToolRegistry {
    fn default() -> Self {
        ToolRegistry::standard()
    }
}

impl ToolRegistry {
    /// Kaptain's tools.
    pub fn standard() -> ToolRegistry {
        let mut tools = super::read::all();
        tools.push(Arc::new(super::propose::ProposeAction));
        ToolRegistry { tools }
    }

    /// Only the read-only tools (`kaptain mcp --read-only`).
    pub fn read_only(mut self) -> ToolRegistry {
        self.tools.retain(|t| t.mark() == Mark::ReadOnly);
        self
    }

    pub fn all(&self) -> impl Iterator<Item = &dyn Tool> {
        self.tools.iter().map(|t| t.as_ref())
    }

    /// The tools `caller` may run: read-only ones for a viewer, all for an operator.
    pub fn visible(&self, caller: &Caller) -> Vec<&dyn Tool> {
        self.all()
            .filter(|t| t.mark() == Mark::ReadOnly || caller.may_propose())
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        self.all().find(|t| t.name() == name)
    }

    /// Calls tool `name` for `caller`. A proposing tool needs the operator role.
    pub async fn call(
        &self,
        host: &dyn ToolHost,
        caller: &Caller,
        name: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        let tool = self
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
        if tool.mark() == Mark::Proposes && !caller.may_propose() {
            return Err(ToolError::Forbidden(format!(
                "{} is a viewer; {name} proposes changes and needs the operator role",
                caller.actor
            )));
        }
        tool.call_json(host, caller, args).await
    }
}

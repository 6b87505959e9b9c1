//! The wasm engine against misbehaving components: one that never returns and one that grows its
//! memory without end. Each gets a problem+json answer (`504`, `500`) while the engine goes on
//! serving the others. The two components are made here: a core module written with
//! wasm-encoder, exporting `wasi:http/incoming-handler@0.2.0#handle`, componentized as any
//! wasip1 module is.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spincrud_core::http::{Request, StatusCode};
use wasm_encoder::{BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, MemorySection, MemoryType, Module, TypeSection};

use super::{ServeSettings, WasmArgs, WasmEngine};
use crate::stores::{StoreSettings, Stores};

/// Just enough of `wasi:http@0.2.0` to type the export.
const HANDLER_WIT: &str = r#"
package wasi:http@0.2.0;

interface types {
  resource incoming-request;
  resource response-outparam;
}

interface incoming-handler {
  use types.{incoming-request, response-outparam};
  handle: func(request: incoming-request, response-out: response-outparam);
}

world misbehaving {
  export incoming-handler;
}
"#;

/// A component whose `handle` runs `body`.
fn component(body: &[Instruction<'_>]) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([wasm_encoder::ValType::I32, wasm_encoder::ValType::I32], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
    let mut exports = ExportSection::new();
    exports.export("wasi:http/incoming-handler@0.2.0#handle", ExportKind::Func, 0);
    exports.export("memory", ExportKind::Memory, 0);
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    for i in body {
        f.instruction(i);
    }
    f.instruction(&Instruction::End);
    code.function(&f);
    let mut module = Module::new();
    module.section(&types).section(&functions).section(&memories).section(&exports).section(&code);
    let mut bytes = module.finish();

    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("handler.wit", HANDLER_WIT).unwrap();
    let world = resolve.select_world(&[package], Some("misbehaving")).unwrap();
    wit_component::embed_component_metadata(&mut bytes, &resolve, world, wit_component::StringEncoding::UTF8).unwrap();
    bytes
}

fn spinning() -> Vec<u8> {
    component(&[Instruction::Loop(BlockType::Empty), Instruction::Br(0), Instruction::End])
}

fn hogging() -> Vec<u8> {
    // Grow by 1 MiB until refused.
    component(&[
        Instruction::Loop(BlockType::Empty),
        Instruction::I32Const(16),
        Instruction::MemoryGrow(0),
        Instruction::I32Const(-1),
        Instruction::I32Ne,
        Instruction::BrIf(0),
        Instruction::End,
    ])
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("host-runner-wasm-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn engine(dir: &Path, manifest: &str) -> (WasmEngine, Arc<Stores>) {
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();
    let settings = StoreSettings { database_url: None, redis_url: None, data_dir: dir.join("data"), pool_size: 4, timeout: std::time::Duration::from_millis(500) };
    let stores = Arc::new(Stores::open(&settings).await.unwrap());
    stores.sql.migrate().await.unwrap();
    let args = WasmArgs {
        manifest: dir.join("spin.toml"),
        runtime_config_file: None,
        wasm_cache_dir: Some(dir.join("cache")),
        wasm_timeout: 1,
        wasm_memory_limit_mb: 16,
        wasm_max_instances: 8,
    };
    let serve = ServeSettings { wasm: &args, stores: &settings, api_tokens: "", auth_reads: "false", body_limit: 1 << 20, cors_origins: "", migrate: true };
    (WasmEngine::load(serve, stores.clone()).await.unwrap(), stores)
}

fn get(path: &str) -> Request<Vec<u8>> {
    Request::get(path).header("host", "localhost").body(Vec::new()).unwrap()
}

fn problem_slug(resp: &spincrud_core::Response) -> String {
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("x-request-id"));
    let doc: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    doc["type"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_components_get_problems_and_the_engine_keeps_serving() {
    // The only test here that reads metrics: the recorder is the process's.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let dir = scratch_dir();
    std::fs::write(dir.join("spin.wasm"), spinning()).unwrap();
    std::fs::write(dir.join("hog.wasm"), hogging()).unwrap();
    let manifest = r#"
spin_manifest_version = 2
[application]
name = "misbehaving"
[[trigger.http]]
route = "/spin"
component = "spin"
[[trigger.http]]
route = "/hog/..."
component = "hog"
[component.spin]
source = "spin.wasm"
[component.hog]
source = "hog.wasm"
"#;
    let (engine, stores) = engine(&dir, manifest).await;
    let engine = Arc::new(engine);

    // A spinning instance does not hold up the others: the hog answers meanwhile.
    let spinner = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (engine.handle(get("/spin")).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hog = engine.handle(get("/hog/x")).await;
    let cause = hog.extensions().get::<spincrud_core::InternalError>().map(|e| e.0.clone()).unwrap_or_default();
    assert!(cause.contains("growing memory"), "the log line names the cause: {cause}");
    assert_eq!(hog.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(problem_slug(&hog), "internal-error");
    assert!(!spinner.is_finished(), "the hog answered while the spinner still runs");

    let (spun, took) = spinner.await.unwrap();
    assert_eq!(spun.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(problem_slug(&spun), "timeout");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "deadline of 1 s, answered after {took:?}");

    // And again: the pool slots came back.
    for _ in 0..3 {
        assert_eq!(engine.handle(get("/hog/again")).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    // Each failure is counted by kind, per component; the slots are all free again.
    let text = metrics.render();
    for expected in [
        r#"wasm_component_failures_total{component="spin",kind="timeout"} 1"#,
        r#"wasm_component_failures_total{component="hog",kind="memory_limit"} 4"#,
        r#"wasm_component_failures_total{component="hog",kind="trap"} 0"#,
        r#"wasm_component_requests_total{component="hog",status="500"} 4"#,
        r#"wasm_component_requests_total{component="spin",status="504"} 1"#,
        r#"wasm_instances_in_use{component="hog"} 0"#,
        r#"wasm_instances_in_use{component="spin"} 0"#,
        "wasm_instances_max 8",
    ] {
        assert!(text.lines().any(|l| l == expected), "no `{expected}` in /metrics:\n{text}");
    }
    assert!(text.contains(r#"wasm_instantiation_duration_seconds_count{component="hog"} 4"#), "{text}");

    // No route: a problem+json 404 (spincrud's own manifest routes everything somewhere).
    let none = engine.handle(get("/elsewhere")).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem_slug(&none), "not-found");

    // A restart maps the compiled components from the cache instead of compiling them.
    engine.close().await;
    let cached: Vec<_> = std::fs::read_dir(dir.join("cache")).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "cwasm")).collect();
    assert_eq!(cached.len(), 2);
    stores.close().await;
    let (again, stores) = self::engine(&dir, manifest).await;
    assert_eq!(again.handle(get("/hog/x")).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    again.close().await;
    stores.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

//! Turns the suite's registry into libtest-mimic trials, with panics captured as failure
//! messages (so parallel tests do not interleave their panic output).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Once;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::harness::{self, Ctx, Engine, Stores};
use crate::suite;

/// Default parallelism: the tests mostly wait on HTTP, so more threads than cores pay off.
const DEFAULT_TEST_THREADS: usize = 8;

thread_local! {
    /// `Some` while a test body runs on this thread: the panic hook writes the message here.
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs the whole suite against one (engine, store set) and returns the process exit code.
pub fn run(engine: Engine, stores: Stores) -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(DEFAULT_TEST_THREADS);
    }
    install_panic_hook();
    if engine == Engine::Spin && crate::harness::spin::spin_binary().is_none() {
        // `make test` says the same before it runs the suite; a machine without the Spin CLI
        // runs the other engines' sets only.
        eprintln!("spincrud-tests: no Spin CLI (set SPIN_BIN or put `spin` on PATH): the suite on Spin ({stores:?}) was not run");
        return ExitCode::SUCCESS;
    }
    if engine == Engine::Wasm && !args.list {
        crate::harness::wasm::prepare_wasm_engine();
    }
    let ctx: &'static Ctx = Box::leak(Box::new(Ctx::new(engine, stores)));
    let trials = suite::all(engine, stores)
        .into_iter()
        .map(|case| {
            let body = case.body;
            Trial::test(case.name, move || run_case(ctx, body))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    harness::shutdown(!conclusion.has_failed());
    conclusion.exit_code()
}

fn run_case(ctx: &'static Ctx, body: suite::Body) -> Result<(), Failed> {
    captured(|| body(ctx))
}

/// Runs a test body; a panic becomes its failure message (the hook keeps parallel tests'
/// panic output apart). [`install_panic_hook`] must have run.
pub(crate) fn captured(body: impl FnOnce()) -> Result<(), Failed> {
    CAPTURED.with(|c| *c.borrow_mut() = Some(String::new()));
    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    let message = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if message.is_empty() => Err(Failed::from("test panicked (no message)")),
        Err(_) => Err(Failed::from(message)),
    }
}

pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_string());
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let captured = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
                Some(buf) => {
                    if !buf.is_empty() {
                        buf.push_str("\n---\n");
                    }
                    buf.push_str(&format!("panicked at {location}:\n{text}"));
                    true
                }
                None => false,
            });
            if !captured {
                default_hook(info);
            }
        }));
    });
}

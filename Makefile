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
WASM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/release/scorelab.wasm

.PHONY: deps deps-rust deps-node deps-browser wasm page serve cli test test-native test-wasm test-browser fmt-check bench clean

deps: deps-rust deps-node deps-browser

deps-rust:
	@rustup target list --installed | grep -q $(WASM_TARGET) || rustup target add $(WASM_TARGET)
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

# The wasm module (WebGPU through burn-wgpu + the CPU backend) and its JS bindings in pkg/.
wasm: deps-rust
	cargo build --release --lib --target $(WASM_TARGET)
	wasm-bindgen --target web --out-dir pkg $(WASM)

# The static page in dist/ (works offline from any static host).
page: wasm deps-node
	npm run build

serve: page
	@echo "scorelab playground: http://127.0.0.1:$(PORT)/"
	npx vite preview --host 127.0.0.1 --port $(PORT) --strictPort

cli:
	cargo build --release --bin scorelab
	@echo "CLI: $(CARGO_TARGET_DIR)/release/scorelab"

test: deps fmt-check test-native test-wasm test-browser

fmt-check:
	cargo fmt --all -- --check

test-native:
	cargo test --release

test-wasm: deps-rust deps-browser
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=600 cargo test --release --target $(WASM_TARGET) --test web

test-browser: page deps-browser
	node www/tests/page.test.mjs

bench:
	cargo bench --bench sampler

clean:
	rm -rf pkg dist test-results

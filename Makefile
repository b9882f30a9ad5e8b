# airlock — `make demo` verifies the shipped testdata, `make test` runs every test.
CARGO ?= cargo
AIRLOCK := target/debug/airlock

.PHONY: all build demo test lint bench bench-archive bench-scale bench-remote bench-keyless bench-import fixtures clean fuzz dist

all: build

build:
	$(CARGO) build --quiet

# A PASS and two FAILs on the shipped fixtures, each explained.
demo: build
	@echo "== A signed multi-arch image (index + each platform signed by skopeo): PASS"
	$(AIRLOCK) verify-archive testdata/layouts/signed-multi-all -p testdata/keys/p256.pub
	@echo
	@echo "== The same image signed by another key: FAIL bad-signature (exit 1 expected)"
	-$(AIRLOCK) verify-archive testdata/layouts/signed-multi-all -p testdata/keys/other.pub
	@echo
	@echo "== A layout whose arm64 layer has one flipped byte: FAIL corrupt (exit 1 expected)"
	-$(AIRLOCK) verify-archive testdata/layouts/multi-corrupt-arm64 -p testdata/keys/p256.pub
	@echo
	@echo "== A signature copied from another repository: accepted only with --exact-repository"
	-$(AIRLOCK) verify-archive testdata/layouts/copied-repo -p testdata/keys/p256.pub
	$(AIRLOCK) verify-archive testdata/layouts/copied-repo -p testdata/keys/p256.pub \
		--exact-repository registry.airlock.test/airlock/single
	@echo
	@echo "== A tar.zst bundle, read once, with its own cosign sign-blob signature: PASS"
	$(AIRLOCK) verify-archive testdata/archives/oci/signed-p256.tar.zst -p testdata/keys/p256.pub \
		--archive-signature testdata/archives/oci/signed-p256.tar.zst.sig

test:
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# make bench runs the five benchmarks below in one run and ends with one table of their headline numbers
# (bench/all.sh); each also runs alone. Never part of make test or CI; no number fails it.
bench:
	bench/all.sh

# airlock vs zstd|openssl on generated ~1 GiB and ~4 GiB bundles (BENCH_SIZES="1024 4096" MiB).
bench-archive:
	bench/run.sh

# 2 000 and 20 000 signed images, and 2 000 three-signature multi-arch ones, as a directory and a tar.zst:
# µs per image, peak memory and the growth factor, next to one ECDSA verification (BENCH_SCALE="2000 20000").
bench-scale:
	bench/scale.sh

# airlock validate (-j 1, -j 8) vs skopeo 1.18's policy-checked copy on a loopback registry (BENCH_IMAGES=200).
bench-remote:
	bench/remote.sh

# N keyless-signed images verified offline: airlock -j default and -j 1 vs sigstore-python (BENCH_KEYLESS=100).
bench-keyless:
	bench/keyless.sh

# airlock import -j 4 vs skopeo 1.18 copy (4 at a time) of one ~1 GiB OCI layout into a fresh loopback registry,
# and the HEAD-only second import (BENCH_IMPORT_MIB=1024, BENCH_RUNS=3).
bench-import:
	bench/import.sh

# Regenerates testdata/ with real signers (skopeo 1.18, cosign 2.5) and a local registry; needs root.
fixtures:
	testdata/make-fixtures.sh

# A stripped release binary for old hosts (glibc >= 2.17: RHEL 7/8, SLES 12/15), built with cargo-zigbuild and
# zig as linker and C compiler (aws-lc-sys, zstd-sys) against glibc 2.17's symbol versions: dist/$(DIST_NAME),
# its $(DIST_NAME).sha256 (sha256sum -c) and dist/airlock, a symlink to it. Needs `pip install ziglang
# cargo-zigbuild` (the versions .ci/run pins) and strip (binutils).
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
DIST_TARGET := x86_64-unknown-linux-gnu
DIST_GLIBC := 2.17
DIST_NAME := airlock-$(VERSION)-x86_64-linux-gnu
DIST_TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
ZIGBUILD_HINT := pip install ziglang cargo-zigbuild

dist:
	@cargo-zigbuild --version >/dev/null 2>&1 || \
		{ echo "make dist: cargo-zigbuild is missing: $(ZIGBUILD_HINT)" >&2; exit 1; }
	@{ python3 -m ziglang version || zig version; } >/dev/null 2>&1 || \
		{ echo "make dist: zig is missing (PyPI's ziglang): $(ZIGBUILD_HINT)" >&2; exit 1; }
	@command -v strip >/dev/null || { echo "make dist: strip is missing (binutils)" >&2; exit 1; }
	$(CARGO) zigbuild --release --locked --target $(DIST_TARGET).$(DIST_GLIBC)
	@mkdir -p dist
	@# Into temp names, then renamed, so that two `make dist` at once never leave a half-written file.
	tmp=dist/.$(DIST_NAME).$$$$ && trap 'rm -f $$tmp $$tmp.sha256 $$tmp.link' EXIT && \
		cp $(DIST_TARGET_DIR)/$(DIST_TARGET)/release/airlock $$tmp && strip $$tmp && \
		echo "$$(sha256sum < $$tmp | cut -d' ' -f1)  $(DIST_NAME)" > $$tmp.sha256 && \
		ln -s $(DIST_NAME) $$tmp.link && \
		mv -f $$tmp dist/$(DIST_NAME) && mv -f $$tmp.sha256 dist/$(DIST_NAME).sha256 && mv -fT $$tmp.link dist/airlock
	@echo "dist/$(DIST_NAME): $$(wc -c < dist/$(DIST_NAME)) bytes, newest glibc symbol version" \
		"$$(objdump -T dist/$(DIST_NAME) 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"

clean:
	$(CARGO) clean
	rm -rf dist

# Fuzzing (tests/fuzz/README.md): never part of `make test` or CI. Needs the nightly toolchain and
# `cargo install cargo-fuzz`. Seeds the corpora from testdata, then runs each target for FUZZ_SECONDS
# (FUZZ_TARGETS picks some); a crash is saved under tests/fuzz/artifacts/<target>/, the other targets
# still run, and the target fails at the end.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= strict_json reference image_list manifest payload tar_archive zip_archive skopeo_signature sigstore_bundle
FUZZ_CARGO ?= cargo +nightly
FUZZ_LIBFUZZER_FLAGS ?= -rss_limit_mb=2048 -timeout=10

fuzz:
	tests/fuzz/seed.sh
	@failed=""; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_CARGO) fuzz run --fuzz-dir tests/fuzz --debug-assertions $$t tests/fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIBFUZZER_FLAGS) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed (a finding or a build error) in:$$failed; findings are in tests/fuzz/artifacts/<target>/"; exit 1; fi

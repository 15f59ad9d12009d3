# Thin aliases over cargo xtask (see `cargo xtask help`).
.PHONY: audit test bench load-test simulation-run
audit:
	cargo run --release -- audit report
test:
	cargo xtask ci
bench:
	cargo xtask bench
load-test:
	cargo xtask load-test
simulation-run:
	cargo xtask simulation-run

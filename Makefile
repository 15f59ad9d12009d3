# Thin aliases over cargo xtask (see `cargo xtask help`).
.PHONY: audit test bench load-test
audit:
	cargo run --release -- audit report
test:
	cargo xtask ci
bench:
	cargo xtask bench
load-test:
	cargo xtask load-test

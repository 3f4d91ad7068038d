# Convenience targets; the README's commands work without make.
.PHONY: build test race bench fuzz
build:
	CGO_ENABLED=0 go build -trimpath -o rosterd ./cmd/rosterd
test:
	go test -count=1 ./... github.com/go-asn1-ber/asn1-ber
# The same tests under the race detector (about 4 minutes; not run by CI).
race:
	go test -race -count=1 ./... github.com/go-asn1-ber/asn1-ber
# Benchmarks recorded in BENCHMARKS.md.
bench:
	go test -run '^$$' -bench 'ApplyClaim$$' -benchtime 20000x -count 3 ./directory/
	go test -run '^$$' -bench 'ApplyBatch$$' -benchtime 1x -count 3 ./directory/
# Every fuzz target for FUZZTIME each (default 60s); CI runs each for a few
# seconds after the tests. Crashers land in the package's testdata/fuzz/.
FUZZTIME ?= 60s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

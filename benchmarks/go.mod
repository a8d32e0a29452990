module github.com/molt-http/molt/benchmarks

go 1.26.0

require (
	github.com/molt-http/molt v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.62.0
)

require golang.org/x/text v0.43.0 // indirect

replace github.com/molt-http/molt => ../

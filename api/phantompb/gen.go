// Package phantompb holds the Protobuf definitions of a PhantomDB node's
// client and admin API (phantom.proto) and the Go code generated from them.
// Regenerate with `go generate ./api/...` (needs protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH).
package phantompb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative phantom.proto

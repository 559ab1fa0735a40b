// Builds the Consul agent that drover's end-to-end tests and demo run against.
module github.com/drover-dev/drover/tools/consul

go 1.26

require github.com/hashicorp/consul v1.14.11

exclude github.com/hashicorp/go-msgpack v1.1.5

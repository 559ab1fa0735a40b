// Builds the Nomad agent that drover's end-to-end tests and demo run against.
// Kept out of drover's own module: Nomad pins its own dependency graph.
module github.com/drover-dev/drover/tools/nomad

go 1.26

require github.com/hashicorp/nomad v1.11.3

replace (
	github.com/Microsoft/go-winio => github.com/endocrimes/go-winio v0.4.13-0.20190628114223-fb47a8b41948
	github.com/hashicorp/hcl => github.com/hashicorp/hcl v1.0.1-nomad-1
	github.com/hashicorp/nomad/api => github.com/hashicorp/nomad/api v0.0.0-20261016150620-df630b26e78a
)

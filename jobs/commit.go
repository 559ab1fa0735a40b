package jobs

import "github.com/drover-dev/drover/api"

// CommitInfo describes the commit a tree was read at, for people: the
// status page shows what drover is at.
type CommitInfo = api.CommitInfo

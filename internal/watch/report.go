package watch

import (
	"time"

	"github.com/rs/zerolog"
)

// logFailure and logRecovered are the one place a watch's events are
// written: every watch logs the same names with the same fields.
func logFailure(log zerolog.Logger, name string, err error, retry time.Duration) {
	log.Warn().Str("event", "watch.error").Str("watch", name).Err(err).
		Str("retry_in", retry.Round(time.Millisecond).String()).Msg("watch failed; retrying")
}

func logRecovered(log zerolog.Logger, name string, failures int) {
	log.Info().Str("event", "watch.recovered").Str("watch", name).Int("failures", failures).Msg("watch answering again")
}

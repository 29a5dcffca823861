package whisper

import (
	"fmt"

	"github.com/goformer/goformer/generate"
)

// checkGroup refuses beam and sample counts over generate.MaxBeams: each
// beam or sample is a decoder row at every step. Negative counts are left
// to the callers' own messages.
func checkGroup(beamSize, bestOf int) error {
	if beamSize > generate.MaxBeams {
		return fmt.Errorf("%w: beam size %d is over the limit of %d (generate.MaxBeams)", ErrInput, beamSize, generate.MaxBeams)
	}
	if bestOf > generate.MaxBeams {
		return fmt.Errorf("%w: best_of %d is over the limit of %d (generate.MaxBeams)", ErrInput, bestOf, generate.MaxBeams)
	}
	return nil
}

// checkOptions refuses transcription options over the limits before any
// audio is decoded or encoded: beams and samples over generate.MaxBeams,
// a per-window token count over the decoder's positions.
func (m *Model) checkOptions(opt Options) error {
	if err := checkGroup(opt.BeamSize, opt.BestOf); err != nil {
		return err
	}
	if opt.BeamSize < 0 || opt.BestOf < 0 || opt.MaxTokens < 0 {
		return fmt.Errorf("%w: negative beam size (%d), best_of (%d) or max tokens (%d)", ErrInput, opt.BeamSize, opt.BestOf, opt.MaxTokens)
	}
	if n := m.Config.MaxTargetPositions; opt.MaxTokens > n {
		return fmt.Errorf("%w: max tokens %d is over the limit of the decoder's %d positions (max_target_positions)", ErrInput, opt.MaxTokens, n)
	}
	return nil
}

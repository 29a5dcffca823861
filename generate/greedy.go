package generate

import (
	"context"
	"fmt"
	"slices"

	"github.com/goformer/goformer/tensor"
)

// Greedy is transformers' greedy_search: every prompt (all of one length;
// the Stepper holds one row per prompt) is extended by its most likely
// token, after the logits processors of opt, until an EOS token or the
// maximum length. Each returned sequence holds its prompt, the generated
// tokens and the EOS token when one ended it. opt.NumBeams is ignored.
//
// The context is checked before every Step and between rows; a cancelled
// search returns ctx.Err() without calling the Stepper again.
func Greedy(ctx context.Context, s Stepper, prompts [][]int, opt Options) ([][]int, error) {
	promptLen, maxLen, err := opt.check(prompts)
	if err != nil {
		return nil, err
	}
	return extend(ctx, s, prompts, opt, opt.Processors(promptLen), maxLen, "greedy search", tensor.Argmax)
}

// extend is the loop of Greedy and Sample: the logits of every row go
// through procs, then pick chooses the row's next token (-1 when no score
// is usable, an error naming the search what); rows that end with an EOS
// token leave the batch, until none is left or the sequences reach maxLen
// (opt's EOS tokens; opt is checked against the vocabulary). The context
// is checked before every Step and between rows.
func extend(ctx context.Context, s Stepper, prompts [][]int, opt Options, procs Processors, maxLen int, what string, pick func(row []float32) int) ([][]int, error) {
	seqs := make([][]int, len(prompts))
	active := make([]int, len(prompts)) // active[r]: the sequence row r decodes
	for i, p := range prompts {
		seqs[i] = slices.Clone(p)
		active[i] = i
	}
	feed := prompts
	m := &checked{s: s, opt: opt}
	for {
		logits, err := m.step(ctx, feed)
		if err != nil {
			return nil, err
		}
		var keep []int
		for r, row := range logits {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			seq := seqs[active[r]]
			procs.Process(seq, row)
			tok := pick(row)
			if tok < 0 {
				return nil, fmt.Errorf("generate: %s: no usable score among %d logits", what, len(row))
			}
			seqs[active[r]] = append(seq, tok)
			if !slices.Contains(opt.EOS, tok) {
				keep = append(keep, r)
			}
		}
		if len(keep) == 0 || len(seqs[active[0]]) >= maxLen {
			return seqs, nil
		}
		if len(keep) < len(active) {
			// Finished rows leave the batch (transformers pads them).
			if err := s.Reorder(keep); err != nil {
				return nil, err
			}
			na := make([]int, len(keep))
			for i, r := range keep {
				na[i] = active[r]
			}
			active = na
		}
		feed = make([][]int, len(active))
		for r, a := range active {
			feed[r] = seqs[a][len(seqs[a])-1:]
		}
	}
}

package task

import (
	"fmt"
	"io"

	"github.com/goformer/goformer/nn"
)

// The pieces below are what the families' adapters (each family's
// task.go) have in common: a family states only its names, how its model
// is described, and its task methods.

// Loader returns a Family.Load (or LoadFile) function: it loads path with
// load, the family package's Load function, given the options as o.NN()
// says, and makes the front-door model of what it loaded with adapt.
func Loader[M any](load func(path string, opts ...nn.LoadOption) (M, error), adapt func(m M, path string) Model) func(path string, o LoadOptions) (Model, error) {
	return func(path string, o LoadOptions) (Model, error) {
		m, err := load(path, o.NN()...)
		if err != nil {
			return nil, err
		}
		return adapt(m, path), nil
	}
}

// Adapter is what every family's front-door model shares: the Info it
// was made with, Close, which closes the family's model m, and Model,
// which returns m. A family's adapter embeds it and adds its task methods.
type Adapter[M io.Closer] struct {
	m    M
	info Info
}

// NewAdapter returns the Adapter of m, described by info.
func NewAdapter[M io.Closer](m M, info Info) Adapter[M] {
	return Adapter[M]{m: m, info: info}
}

// Info describes the model.
func (a *Adapter[M]) Info() Info { return a.info }

// Close closes the family's model.
func (a *Adapter[M]) Close() error { return a.m.Close() }

// Model returns the family's model behind the front-door model.
func (a *Adapter[M]) Model() M { return a.m }

// OptionErrorf returns an *OptionError for option whose Err wraps
// sentinel, the family's input error, with the formatted message.
func OptionErrorf(sentinel error, option, format string, a ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, a...))}
}

// GenerationLimits bound the options of a family's generating tasks
// (Caption, Answer, Chat). A zero limit is none.
type GenerationLimits struct {
	// Beams is the widest beam search.
	Beams int
	// Positions is the number of positions of the language model, which
	// bounds MaxNewTokens.
	Positions int
}

// Check tells whether opt, a CaptionOptions, AnswerOptions or ChatOptions
// value (which has no beams), stays within l: neither Beams nor
// MaxNewTokens may be negative or over its limit. The error is an
// *OptionError naming the option, wrapping sentinel (the family's input
// error). Options of other tasks pass.
func (l GenerationLimits) Check(sentinel error, opt any) error {
	var beams, maxNew int
	switch o := opt.(type) {
	case CaptionOptions:
		beams, maxNew = o.Beams, o.MaxNewTokens
	case AnswerOptions:
		beams, maxNew = o.Beams, o.MaxNewTokens
	case ChatOptions:
		maxNew = o.MaxNewTokens
	default:
		return nil
	}
	switch {
	case beams < 0:
		return OptionErrorf(sentinel, "beams", "beams must not be negative")
	case l.Beams > 0 && beams > l.Beams:
		return OptionErrorf(sentinel, "beams", "%d beams is over the limit of %d", beams, l.Beams)
	case maxNew < 0:
		return OptionErrorf(sentinel, "max_new_tokens", "max tokens must not be negative")
	case l.Positions > 0 && maxNew > l.Positions:
		return OptionErrorf(sentinel, "max_new_tokens", "%d new tokens is over the limit of the language model's %d positions", maxNew, l.Positions)
	}
	return nil
}

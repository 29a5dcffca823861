package whisper

import (
	"context"
	"math"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "whisper",
		Architectures: []string{"WhisperForConditionalGeneration"},
		ModelTypes:    []string{"whisper"},
		Tasks:         []string{task.Transcribe, task.Translate},
		Load: task.Loader(Load, func(m *Model, dir string) task.Model {
			return m.AsTask("WhisperForConditionalGeneration", dir)
		}),
		LoadFile: task.Loader(Load, func(m *Model, path string) task.Model {
			return m.AsTask("openai-whisper", path)
		}),
	})
}

// AsTask returns m as a task.Transcriber (and task.Model) for the front
// door; arch and path fill its Info. Closing it closes m; its Model method
// returns m.
func (m *Model) AsTask(arch, path string) task.Model {
	return &taskModel{task.NewAdapter(m, task.Info{
		Family: "whisper", Architecture: arch, Path: path,
		Tasks: []string{task.Transcribe, task.Translate},
	})}
}

// taskModel adapts a Model to the task interfaces.
type taskModel struct{ task.Adapter[*Model] }

func (t *taskModel) SampleRate() int { return audio.SampleRate }

func (t *taskModel) Transcribe(ctx context.Context, pcm []float32, o task.TranscribeOptions) (*task.Transcript, error) {
	opt, err := t.options(o)
	if err != nil {
		return nil, err
	}
	res, err := t.Model().Transcribe(ctx, pcm, opt)
	if err != nil {
		return nil, err
	}
	tr := res.Transcript()
	tr.Task, tr.Duration = opt.Task, float64(len(pcm))/audio.SampleRate
	return tr, nil
}

// Transcript converts r to the front door's type, which package transcript
// writes in OpenAI's output formats (Task and Duration are left for the
// caller to fill).
func (r *Result) Transcript() *task.Transcript {
	tr := &task.Transcript{Language: r.Language, Text: r.Text, Segments: r.Segments, Words: r.words}
	for _, s := range r.Segments {
		if s.Words != nil {
			tr.Words = true
		}
	}
	return tr
}

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	if o, ok := opt.(task.TranscribeOptions); ok {
		_, err := t.options(o)
		return err
	}
	return nil
}

func optionErr(option, format string, a ...any) error {
	return task.OptionErrorf(ErrInput, option, format, a...)
}

// options checks the front door's options against what Whisper can do and
// converts them.
func (t *taskModel) options(o task.TranscribeOptions) (Options, error) {
	name := o.Task
	if name == "" {
		name = task.Transcribe
	}
	if name != task.Transcribe && name != task.Translate {
		return Options{}, optionErr("task", "task %q (want transcribe or translate)", name)
	}
	if o.Beams < 0 {
		return Options{}, optionErr("beams", "beam size %d", o.Beams)
	}
	if o.Beams > MaxBeams {
		return Options{}, optionErr("beams", "beam size %d over the limit of %d", o.Beams, MaxBeams)
	}
	for _, x := range o.Temperatures {
		if !(x >= 0 && x <= 1) || math.IsNaN(x) {
			return Options{}, optionErr("temperatures", "temperature %g outside [0, 1]", x)
		}
	}
	if o.Language != "" {
		tok := t.Model().Tokenizer()
		if tok == nil {
			return Options{}, optionErr("language", "%v", ErrNoTokenizer)
		}
		if _, err := tok.LanguageToken(o.Language); err != nil {
			return Options{}, optionErr("language", "%v", err)
		}
	}
	opt := Options{
		Task: name, Language: o.Language, InitialPrompt: o.Prompt,
		Temperatures: o.Temperatures, WordTimestamps: o.Words,
	}
	if o.Beams > 1 {
		opt.BeamSize = o.Beams
	}
	opt.OnSegment = o.OnSegment
	return opt, nil
}

// MaxBeams bounds the beam width a front-door call may ask for (OpenAI's
// default is 5).
const MaxBeams = 32

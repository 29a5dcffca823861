package wav2vec2

import (
	"context"
	"strings"

	"github.com/goformer/goformer/task"
)

func init() {
	task.Register(task.Family{
		Name:          "wav2vec2",
		Architectures: []string{"Wav2Vec2ForCTC", "HubertForCTC"},
		ModelTypes:    []string{ModelTypeWav2Vec2, ModelTypeHubert},
		Tasks:         []string{task.Transcribe},
		Load: task.Loader(Load, func(m *Model, dir string) task.Model {
			return m.AsTask(m.Network().Config().Architecture(), dir)
		}),
	})
}

// AsTask returns m as a task.Transcriber (and task.Model) for the front
// door; arch and path fill its Info. Closing it closes m; its Model method
// returns m.
func (m *Model) AsTask(arch, path string) task.Model {
	return &taskModel{task.NewAdapter(m, task.Info{Family: "wav2vec2", Architecture: arch, Path: path, Tasks: []string{task.Transcribe}})}
}

type taskModel struct{ task.Adapter[*Model] }

func (t *taskModel) SampleRate() int { return t.Model().SampleRate() }

// Transcribe runs greedy CTC. A CTC model is trained on one language and
// has no prompt, sampling or beam search: asking for them is an error
// matching ErrInput rather than a silently ignored option.
func (t *taskModel) Transcribe(ctx context.Context, pcm []float32, o task.TranscribeOptions) (*task.Transcript, error) {
	if err := t.check(o); err != nil {
		return nil, err
	}
	tr, err := t.Model().Transcribe(ctx, pcm, Options{WordTimestamps: o.Words})
	if err != nil {
		return nil, err
	}
	duration := float64(len(pcm)) / float64(t.Model().SampleRate())
	seg := task.Segment{End: duration, Text: " " + tr.Text}
	if o.Words {
		seg.Words = []task.Word{}
		for _, w := range tr.Words {
			seg.Words = append(seg.Words, task.Word{Word: " " + w.Text, Start: w.Start, End: w.End})
		}
	}
	if o.OnSegment != nil {
		o.OnSegment(seg)
	}
	return &task.Transcript{Task: task.Transcribe, Duration: duration, Text: tr.Text, Segments: []task.Segment{seg}, Words: o.Words}, nil
}

// CheckOptions tells whether the model honours the options of a task
// (task.OptionChecker).
func (t *taskModel) CheckOptions(opt any) error {
	if o, ok := opt.(task.TranscribeOptions); ok {
		return t.check(o)
	}
	return nil
}

func optionErr(option, format string, a ...any) error {
	return task.OptionErrorf(ErrInput, option, format, a...)
}

func (t *taskModel) check(o task.TranscribeOptions) error {
	name := t.Info().Family
	switch {
	case o.Task == task.Translate:
		return optionErr("task", "a %s model transcribes but cannot translate; use a Whisper model", name)
	case o.Task != "" && o.Task != task.Transcribe:
		return optionErr("task", "task %q (want transcribe)", o.Task)
	case o.Beams > 1:
		return optionErr("beams", "a %s model decodes greedily (CTC): it has no beam search", name)
	case o.Beams < 0:
		return optionErr("beams", "beam size %d", o.Beams)
	case o.Language != "" && !(isEnglish(o.Language) && t.Model().tok.english()):
		return optionErr("language", "a %s model transcribes the one language it was trained on and cannot be given one (%q)", name, o.Language)
	case o.Prompt != "":
		return optionErr("prompt", "a %s model takes no prompt", name)
	}
	for _, x := range o.Temperatures {
		if x != 0 {
			return optionErr("temperatures", "a %s model decodes greedily (CTC): it cannot sample at temperature %g", name, x)
		}
	}
	return nil
}

// isEnglish reports whether a language option names English.
func isEnglish(lang string) bool {
	switch strings.ToLower(strings.TrimSpace(lang)) {
	case "en", "english":
		return true
	}
	return false
}

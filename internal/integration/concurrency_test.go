package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// job is one unit of model work; its result is compared as JSON (floats
// in shortest round-trip form, so equal text means equal bits).
type job struct {
	name string
	run  func(ctx context.Context) (any, error)
}

// mixedJobs is the mixed workload of the concurrency test: every family,
// images of every color mode, texts, questions and speech.
func mixedJobs(m *models) []job {
	var jobs []job
	add := func(name string, run func(ctx context.Context) (any, error)) {
		jobs = append(jobs, job{name, run})
	}
	img := func(i int) image.Image { return m.images[m.imageNames[i%len(m.imageNames)]] }
	for _, i := range []int{0, 3, 4, 5} {
		add("vit/classify/"+m.imageNames[i], func(ctx context.Context) (any, error) { return m.vit.Classify(ctx, img(i), 3) })
	}
	add("vit/batch", func(ctx context.Context) (any, error) {
		return m.vit.ClassifyBatch(ctx, []image.Image{img(1), img(5)}, 5)
	})
	add("clip/similarity", func(ctx context.Context) (any, error) {
		return m.clip.Similarity(ctx, m.texts, []image.Image{img(3), img(5)})
	})
	add("clip/tokenize", func(ctx context.Context) (any, error) {
		ids, mask, err := m.clip.Tokenize(m.texts)
		return [2][][]int{ids, mask}, err
	})
	add("clip/zeroshot", func(ctx context.Context) (any, error) {
		return m.clip.ZeroShot(ctx, img(1), []string{"cat", "astronaut", "coffee", "page"}, clip.ZeroShotOptions{Template: "a photo of a {label}"})
	})
	add("blip/caption", func(ctx context.Context) (any, error) {
		return m.blipCap.Caption(ctx, []image.Image{img(3)}, blip.Options{})
	})
	add("blip/caption-prefix", func(ctx context.Context) (any, error) {
		return m.blipCap.CaptionWithPrefix(ctx, []image.Image{img(5)}, "a photography of", blip.Options{})
	})
	add("blip/caption-beam3", func(ctx context.Context) (any, error) {
		return m.blipCap.Caption(ctx, []image.Image{img(5)}, blip.Options{NumBeams: 3, MaxNewTokens: 6})
	})
	add("blip/vqa", func(ctx context.Context) (any, error) {
		qs := m.questions[:min(2, len(m.questions))]
		imgs := make([]image.Image, len(qs))
		for i := range imgs {
			imgs[i] = img(3 + i)
		}
		return m.blipVQA.Answer(ctx, imgs, qs, blip.Options{MaxNewTokens: 6})
	})
	for _, i := range []int{3, 5} {
		add(fmt.Sprintf("vit-gpt2/caption/%d", i), func(ctx context.Context) (any, error) {
			return m.vitgpt2.Caption(ctx, img(i), gpt2.CaptionOptions{})
		})
	}
	add("vit-gpt2/beam2", func(ctx context.Context) (any, error) {
		return m.vitgpt2.Caption(ctx, img(5), gpt2.CaptionOptions{Beams: 2, MaxNewTokens: 4})
	})
	add("wav2vec2/transcribe", func(ctx context.Context) (any, error) {
		return m.wav2vec2.Transcribe(ctx, m.jfk, wav2vec2.Options{WordTimestamps: true})
	})
	add("whisper/transcribe", func(ctx context.Context) (any, error) {
		return m.whisper.Transcribe(ctx, m.jfk, whisper.Options{Temperatures: []float64{0}, MaxTokens: 16})
	})
	add("whisper/transcribe-words", func(ctx context.Context) (any, error) {
		return m.whisper.Transcribe(ctx, m.jfk, whisper.Options{Temperatures: []float64{0}, MaxTokens: 8, Language: "en", WordTimestamps: true})
	})
	return jobs
}

func runJob(ctx context.Context, j job) (string, error) {
	v, err := j.run(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", j.name, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%s: result does not marshal: %w", j.name, err)
	}
	return string(b), nil
}

// TestConcurrentModelsMatchSequential loads every family's fixture model
// once, runs a mixed workload sequentially, then runs it twice more from 8
// goroutines at once, the jobs interleaved so that all families run side by
// side, and requires every result to be identical to the sequential one. Run it with -race: the models must be safe for
// concurrent use.
func TestConcurrentModelsMatchSequential(t *testing.T) {
	m := loadModels(t)
	ctx := context.Background()
	jobs := mixedJobs(m)
	want := make([]string, len(jobs))
	start := time.Now()
	for i, j := range jobs {
		s, err := runJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = s
	}
	seq := time.Since(start)

	// The concurrent phase runs every job `repeats` times, in an
	// interleaved order, from 8 goroutines pulling from one queue.
	const goroutines, repeats = 8, 2
	queue := make(chan int, repeats*len(jobs))
	rng := rand.New(rand.NewPCG(13, uint64(len(jobs))))
	for r := 0; r < repeats; r++ {
		for _, i := range rng.Perm(len(jobs)) {
			queue <- i
		}
	}
	close(queue)
	type outcome struct {
		g, i int
		s    string
		err  error
	}
	results := make(chan outcome, repeats*len(jobs))
	var wg sync.WaitGroup
	start = time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				s, err := runJob(ctx, jobs[i])
				results <- outcome{g, i, s, err}
			}
		}()
	}
	wg.Wait()
	close(results)
	t.Logf("%d jobs: sequential %v; %d runs from %d goroutines %v", len(jobs), seq.Round(time.Millisecond),
		repeats*len(jobs), goroutines, time.Since(start).Round(time.Millisecond))
	runs := make([]int, len(jobs))
	for o := range results {
		if o.err != nil {
			t.Fatalf("goroutine %d: %v", o.g, o.err)
		}
		runs[o.i]++
		if o.s != want[o.i] {
			t.Errorf("goroutine %d, %s: result differs from the sequential run\n got: %.300s\nwant: %.300s", o.g, jobs[o.i].name, o.s, want[o.i])
		}
	}
	for i, n := range runs {
		if n != repeats {
			t.Errorf("%s ran %d times concurrently, want %d", jobs[i].name, n, repeats)
		}
	}
}

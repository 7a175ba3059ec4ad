// Package weather is an example MCP server: a forecast service that answers
// only callers presenting its API key in the X-API-Key header. Forecasts
// are made up, derived from a hash of the location so every run and test
// sees the same numbers.
package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mediatorhq/mediator/examples/guard"
)

const (
	// Name is the server's name in its implementation info and auth realm.
	Name = "weather"
	// KeyHeader carries the API key.
	KeyHeader = "X-API-Key"
	// KeyEnv is the environment variable weather-server reads its key from.
	KeyEnv = "WEATHER_API_KEY"
	// ToolGetForecast is the one tool this server offers.
	ToolGetForecast = "get_forecast"
	// MaxDays is the longest forecast get_forecast gives.
	MaxDays = 7
	// maxLocationLen keeps locations to something that reads like a place name.
	maxLocationLen = 100
)

// ForecastInput is get_forecast's arguments.
type ForecastInput struct {
	Location string `json:"location" jsonschema:"city or place name, e.g. Oslo"`
	Days     int    `json:"days,omitempty" jsonschema:"how many days to forecast, starting tomorrow: 1 to 7 (default 1)"`
}

// Day is the forecast for one date.
type Day struct {
	Date                     string  `json:"date" jsonschema:"YYYY-MM-DD"`
	Summary                  string  `json:"summary"`
	TemperatureC             float64 `json:"temperature_c" jsonschema:"daytime high in degrees Celsius"`
	PrecipitationProbability float64 `json:"precipitation_probability" jsonschema:"chance of rain or snow, 0 to 1"`
}

// Forecast is get_forecast's structured result. The top-level date,
// summary, temperature and precipitation are the first day's, so a
// one-day forecast reads as a flat object; Days holds every requested day.
type Forecast struct {
	Location                 string  `json:"location"`
	Date                     string  `json:"date" jsonschema:"YYYY-MM-DD of the first forecast day (tomorrow)"`
	Summary                  string  `json:"summary"`
	TemperatureC             float64 `json:"temperature_c" jsonschema:"daytime high in degrees Celsius"`
	PrecipitationProbability float64 `json:"precipitation_probability" jsonschema:"chance of rain or snow, 0 to 1"`
	Days                     []Day   `json:"days" jsonschema:"one entry per requested day, the first equal to the top-level fields"`
}

// Predict is the forecast get_forecast returns for location when asked on
// the day of now: days consecutive days starting the day after now, in
// now's time zone. The numbers depend only on the location (case and
// surrounding space ignored) and the day's position, never on the date, so
// they are stable across runs.
func Predict(location string, now time.Time, days int) Forecast {
	location = strings.TrimSpace(location)
	f := Forecast{Location: location}
	y, m, d := now.Date()
	for i := range days {
		date := time.Date(y, m, d+1+i, 0, 0, 0, 0, now.Location())
		f.Days = append(f.Days, predictDay(location, i, date))
	}
	if len(f.Days) > 0 {
		first := f.Days[0]
		f.Date, f.Summary, f.TemperatureC, f.PrecipitationProbability = first.Date, first.Summary, first.TemperatureC, first.PrecipitationProbability
	}
	return f
}

func predictDay(location string, offset int, date time.Time) Day {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(location)))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(offset)))
	sum := h.Sum64()
	precip := float64(sum%101) / 100
	temp := float64((sum>>16)%380)/10 - 10
	return Day{
		Date:                     date.Format(time.DateOnly),
		Summary:                  summarize(precip, temp),
		TemperatureC:             temp,
		PrecipitationProbability: precip,
	}
}

func summarize(precip, temp float64) string {
	what := "rain"
	if temp <= 0 {
		what = "snow"
	}
	var sky string
	switch {
	case precip >= 0.7:
		sky = strings.ToUpper(what[:1]) + what[1:]
	case precip >= 0.4:
		sky = "Cloudy, " + what + " possible"
	case precip >= 0.2:
		sky = "Partly cloudy"
	default:
		sky = "Sunny"
	}
	return fmt.Sprintf("%s (%.0f%% chance of %s), high of %.1f °C", sky, precip*100, what, temp)
}

// NewServer returns the weather MCP server. now tells it what "tomorrow"
// is; nil means time.Now.
func NewServer(now func() time.Time) *mcp.Server {
	if now == nil {
		now = time.Now
	}
	s := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "Example weather service", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:        ToolGetForecast,
		Title:       "Weather forecast",
		Description: "Forecast for a location for the next 1 to 7 days, starting tomorrow: summary, daytime high in °C and the chance of precipitation (0 to 1).",
		InputSchema: forecastInputSchema(),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}, func(ctx context.Context, req *mcp.CallToolRequest, in ForecastInput) (*mcp.CallToolResult, Forecast, error) {
		loc := strings.TrimSpace(in.Location)
		switch {
		case loc == "":
			return nil, Forecast{}, errors.New(`argument "location" is empty: give a place name such as "Oslo"`)
		case utf8.RuneCountInString(loc) > maxLocationLen:
			return nil, Forecast{}, fmt.Errorf(`argument "location" is %d characters long: at most %d`, utf8.RuneCountInString(loc), maxLocationLen)
		}
		return nil, Predict(loc, now(), in.Days), nil
	})
	return s
}

// forecastInputSchema is the schema inferred from ForecastInput plus the
// bounds and default a struct tag cannot express. The SDK applies the
// default and checks the bounds before the handler runs.
func forecastInputSchema() *jsonschema.Schema {
	s, err := jsonschema.For[ForecastInput](nil)
	if err != nil {
		panic(fmt.Sprintf("weather: input schema: %v", err)) // a programming error, caught by every test
	}
	loc, days := s.Properties["location"], s.Properties["days"]
	loc.MinLength, loc.MaxLength = new(1), new(maxLocationLen)
	days.Minimum, days.Maximum = new(1.0), new(float64(MaxDays))
	days.Default = json.RawMessage("1")
	return s
}

// NewHandler serves the weather server over streamable HTTP to callers
// presenting key in X-API-Key, recording every request in log.
func NewHandler(key string, log *guard.RequestLog) http.Handler {
	return newHandler(key, log, NewServer(nil))
}

func newHandler(key string, log *guard.RequestLog, s *mcp.Server) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	return guard.Require(h, guard.Policy{Realm: Name, Header: KeyHeader, Key: key}, log)
}

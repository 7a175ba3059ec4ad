package config

import (
	"errors"
	"path/filepath"
	"strings"
)

// Env looks up an environment variable; commands inject it so tests never
// read or change the process environment.
type Env func(key string) (string, bool)

// EnvConfig names the variable that overrides the default config path.
const EnvConfig = "MEDIATOR_CONFIG"

// Locate picks the config file: the --config flag, else MEDIATOR_CONFIG,
// else the default under the XDG config directory. explicit reports that
// the user named the file, so its absence is an error rather than an empty
// config.
func Locate(flag string, env Env) (path string, explicit bool, err error) {
	if flag != "" {
		p, err := ExpandHome(flag, env)
		return p, true, err
	}
	if v, ok := env(EnvConfig); ok && v != "" {
		p, err := ExpandHome(v, env)
		return p, true, err
	}
	dir, err := xdgDir(env, "XDG_CONFIG_HOME", ".config")
	if err != nil {
		return "", false, err
	}
	return filepath.Join(dir, "mediator", "config.yaml"), false, nil
}

// DefaultKeyringDir is where the file backend keeps its items:
// $XDG_DATA_HOME/mediator/keyring.
func DefaultKeyringDir(env Env) (string, error) {
	dir, err := xdgDir(env, "XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mediator", "keyring"), nil
}

// DefaultStateDir holds the audit log and pins: $XDG_STATE_HOME/mediator.
func DefaultStateDir(env Env) (string, error) {
	dir, err := xdgDir(env, "XDG_STATE_HOME", filepath.Join(".local", "state"))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mediator"), nil
}

// ExpandHome turns a leading ~ into $HOME.
func ExpandHome(p string, env Env) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := homeDir(env)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// xdgDir follows the XDG base directory rule: the variable if it holds an
// absolute path, else the fallback under $HOME.
func xdgDir(env Env, key, fallback string) (string, error) {
	if v, ok := env(key); ok && filepath.IsAbs(v) {
		return v, nil
	}
	home, err := homeDir(env)
	if err != nil {
		return "", err
	}
	return filepath.Join(home, fallback), nil
}

func homeDir(env Env) (string, error) {
	if v, ok := env("HOME"); ok && v != "" {
		return v, nil
	}
	if v, ok := env("USERPROFILE"); ok && v != "" {
		return v, nil
	}
	return "", errors.New("cannot find the home directory: HOME is not set")
}

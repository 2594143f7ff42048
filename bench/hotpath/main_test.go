package main

import "testing"

func TestCPUCount(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0,1": 2, "0-3": 4, "0-7,16": 9, "0-15": 16, "2,4-5": 3} {
		if got, err := cpuCount(list); err != nil || got != want {
			t.Errorf("cpuCount(%q) = %d, %v; want %d", list, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0,", "-1", "0-"} {
		if _, err := cpuCount(bad); err == nil {
			t.Errorf("cpuCount(%q) took a list that is not one", bad)
		}
	}
}

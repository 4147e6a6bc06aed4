import { scanPercent } from './scan-outcome';

describe('scanPercent', () => {
  it("takes the larger of the engine's percent (its current host group's) and the share of hosts done, below 100 until the result", () => {
    expect(scanPercent({ percent: 40, hostsDone: 0 }, 256)).toBe(40);
    // nmap restarts its percent with each host group: the hosts done keep the run's progress.
    expect(scanPercent({ percent: 5, hostsDone: 128 }, 256)).toBe(50);
    expect(scanPercent({ percent: 100, hostsDone: 256 }, 256)).toBe(99);
    expect(scanPercent({ percent: 0, hostsDone: 3 }, 0)).toBe(99);
  });
});

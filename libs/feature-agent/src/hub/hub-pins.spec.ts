import { HubPins } from './hub.tls';

const fp = (byte: string) => Array.from({ length: 32 }, () => byte).join(':');
const A = fp('AA');
const B = fp('BB');
const C = fp('CC');

describe('HubPins', () => {
  it('trusts the configured pins whatever the case, and nothing else until the hub announces more', () => {
    const pins = new HubPins([A.toLowerCase()]);
    expect(pins.trusts(A)).toBe(true);
    expect(pins.trusts(B)).toBe(false);
  });

  it('takes each announcement as the learned pins, reporting what was added and dropped', () => {
    const pins = new HubPins([A]);
    expect(pins.learn([A, B])).toEqual({ added: [B], dropped: [] });
    expect(pins.trusts(B)).toBe(true);
    expect(pins.learn([C])).toEqual({ added: [C], dropped: [B] });
    expect(pins.trusts(B)).toBe(false);
    expect(pins.trusts(C)).toBe(true);
    expect(pins.describe()).toBe('1 configured and 1 announced by the hub');
  });

  it('never drops a configured pin, even when the hub no longer announces it', () => {
    const pins = new HubPins([A]);
    pins.learn([B]);
    expect(pins.learn([])).toEqual({ added: [], dropped: [B] });
    expect(pins.trusts(A)).toBe(true);
    expect(pins.describe()).toBe('1 configured');
  });
});

import { parseTasklistOutput } from './tasklist-output.parser';
import { thrownBy } from './test/domain-error.expect';
import { TASKLIST_WINDOWS_SERVER } from './test/netstat-windows.samples';

describe('parseTasklistOutput', () => {
  it('names each pid of a Windows Server listing, System and shared svchost included', () => {
    const names = parseTasklistOutput(TASKLIST_WINDOWS_SERVER);
    expect(names.size).toBe(12);
    expect([names.get(0), names.get(4), names.get(904), names.get(1012), names.get(5128)]).toEqual(['System Idle Process', 'System', 'svchost.exe', 'svchost.exe', 'Acme Web Console.exe']);
  });

  it('reads a German listing, whose session names and memory figures are translated and formatted otherwise', () => {
    const german = '"System","4","Services","0","2.304 K"\r\n"svchost.exe","904","Services","0","24.120 K"\r\n"explorer.exe","6040","Console","1","101.220 K"\r\n';
    expect([...parseTasklistOutput(german)]).toEqual([
      [4, 'System'],
      [904, 'svchost.exe'],
      [6040, 'explorer.exe'],
    ]);
  });

  it('takes image names holding commas and spaces whole', () => {
    expect(parseTasklistOutput('"Agent, Backup Edition.exe","7","Services","0","1 K"').get(7)).toBe('Agent, Backup Edition.exe');
  });

  it.each([
    ['the table format', 'Image Name                     PID Session Name        Session#    Mem Usage\r\n', 1, 'expected a row of quoted fields'],
    ['a header row', '"Image Name","PID","Session Name","Session#","Mem Usage"\r\n', 1, 'pid "PID" is not a process id'],
    ['an error message', 'ERROR: Access denied\r\n', 1, 'expected a row of quoted fields'],
    ['an empty image name', '"","904","Services","0","24,120 K"\r\n', 1, 'empty image name'],
    ['a row cut short', '"System","4","Services","0","2,304 K"\r\n"svchost.exe","90', 2, 'expected a row of quoted fields'],
    ['empty output', '\r\n', 1, 'no process listed'],
  ])('rejects %s, naming the line', (_what, output, lineNumber, reason) => {
    const error = thrownBy(() => parseTasklistOutput(output));
    expect(error.code).toBe('invalid_output');
    expect(error.message).toContain(`tasklist output line ${lineNumber}: `);
    expect(error.message).toContain(reason);
  });
});

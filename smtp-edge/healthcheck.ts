import { connect } from 'node:net';

/**
 * Docker HEALTHCHECK for the edge container: healthy when the SMTP port greets
 * with 220 within 5 s. Exit 0 healthy, 1 not.
 */
const port = Number(process.env.NIMBUS_SMTP_PORT || 2525);
const socket = connect({ host: '127.0.0.1', port });
const timer = setTimeout(() => finish(1), 5_000);
let greeting = '';

function finish(code: number): void {
  clearTimeout(timer);
  socket.destroy();
  process.exit(code);
}

socket.on('data', (chunk) => {
  greeting += chunk.toString('latin1');
  if (greeting.includes('\n')) {
    socket.write('QUIT\r\n');
    finish(greeting.startsWith('220') ? 0 : 1);
  }
});
socket.on('error', () => finish(1));

import { ApiProperty } from '@nestjs/swagger';

export class AccessDto {
  @ApiProperty({
    enum: ['keys', 'protected', 'open'],
    enumName: 'AccessMode',
    description:
      '`keys`: every API call needs an API key; `protected`: no keys are set up, so only clients on the ' +
      "server's own machine are served; `open`: anyone who can reach the server may call it",
  })
  mode: 'keys' | 'protected' | 'open';

  @ApiProperty({ description: 'Whether API calls must carry a key (in `apiKeyHeader`)' })
  apiKeyRequired: boolean;

  @ApiProperty({ example: 'x-api-key', description: 'The request header that carries the key' })
  apiKeyHeader: string;

  @ApiProperty({
    description:
      "Whether this caller can be served at all: false in protected mode for a client beyond the server's " +
      'machine (its calls get 403 PROTECTED_MODE), true otherwise. Says nothing about any key',
  })
  clientAllowed: boolean;
}

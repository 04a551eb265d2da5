import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { ReadinessProbes } from './readiness-probes.js';
import { StorageModule } from '../storage/storage.module.js';

@Module({
  // ReadinessProbes logs each outage as it starts and ends; terminus would log it again at every call.
  imports: [StorageModule, TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [ReadinessProbes],
})
export class HealthModule {}

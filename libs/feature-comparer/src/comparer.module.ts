import { Module } from '@nestjs/common';
import { EventRecorder, ScanJobLedger } from '@portolan/platform';
import { BaselineWriter } from './baseline.writer';
import { ResultApplier } from './result.applier';

/** Applies scan results to baselines and turns differences into change events. */
@Module({ providers: [EventRecorder, ScanJobLedger, BaselineWriter, ResultApplier], exports: [ResultApplier] })
export class ComparerModule {}
